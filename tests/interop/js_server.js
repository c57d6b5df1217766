#!/usr/bin/env node
// The y-websocket 1.5.4 reference server, on an ephemeral port.
//
// node_modules/y-websocket-server/bin/server.js is the reference server itself, but it takes
// its port from $PORT and, given PORT=0, prints "port 0" instead of the port it got. This
// wrapper is that same 30-line file (http server + `ws` upgrade + the package's own
// `setupWSConnection` from bin/utils.js, which is where the whole protocol lives), except
// that it accepts --port 0 and reports the bound port as a JSON line:
//
//   node js_server.js [--host 127.0.0.1] [--port 0] [--timeout SECONDS]
//   stdout: {"event":"listening","host":"127.0.0.1","port":N}   then, on exit, {"event":"stopped"}
//
// Stops on SIGTERM/SIGINT, on stdin EOF when stdin is a pipe (so it dies with its parent), or
// after --timeout seconds (default 30, 0 = never; exit 3). Room = URL path without the leading '/'.
'use strict'

const http = require('http')
const fs = require('fs')
const path = require('path')

function usage (msg) {
  if (msg) process.stderr.write(`js_server: ${msg}\n`)
  process.stderr.write('usage: node js_server.js [--host 127.0.0.1] [--port 0] [--timeout SECONDS (default 30, 0 = never)]\n')
  process.exit(msg ? 2 : 0)
}

let host = '127.0.0.1'
let port = 0
let timeout = 30
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const v = argv[i + 1]
  if (a === '--host' && v !== undefined) {
    host = v; i++
  } else if (a === '--port' && v !== undefined) {
    port = Number(v); i++
  } else if (a === '--timeout' && v !== undefined) {
    timeout = Number(v); i++
  } else if (a === '-h' || a === '--help') {
    usage()
  } else {
    usage(`unknown argument: ${a}`)
  }
}
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad --port ${port}`)
if (!Number.isFinite(timeout) || timeout < 0) usage(`bad --timeout ${timeout}`)

const req = (name) => require(require.resolve(name, { paths: [__dirname, path.join(__dirname, 'node_modules')] }))
let WebSocket, setupWSConnection, version
try {
  // Same module resolution as bin/server.js would get: its own `ws` if it has one nested.
  const serverDir = path.dirname(require.resolve('y-websocket-server/package.json', { paths: [__dirname] }))
  WebSocket = require(require.resolve('ws', { paths: [path.join(serverDir, 'bin')] }))
  setupWSConnection = require(path.join(serverDir, 'bin', 'utils.js')).setupWSConnection
  version = req('y-websocket-server/package.json').version
} catch (e) {
  process.stderr.write(`js_server: cannot load y-websocket-server (run tests/interop/install-peers.sh): ${e.message}\n`)
  process.exit(1)
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const log = (...a) => process.stderr.write('[js_server] ' + a.join(' ') + '\n')

const wss = new WebSocket.Server({ noServer: true })
const server = http.createServer((request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain' })
  response.end('okay')
})
wss.on('connection', (conn, request) => {
  log('connection', request.url)
  conn.on('close', () => log('closed', request.url))
  setupWSConnection(conn, request)
})
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request))
})
server.on('error', (e) => { log('server error:', e.message); emit({ event: 'error', message: e.message }); process.exit(1) })

let stopping = false
function stop (code) {
  if (stopping) return
  stopping = true
  for (const c of wss.clients) c.terminate()
  server.close()
  emit({ event: 'stopped' })
  setTimeout(() => process.exit(code), 50)
}
process.on('SIGTERM', () => stop(0))
process.on('SIGINT', () => stop(0))
try {
  const st = fs.fstatSync(0)
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', () => { log('stdin closed'); stop(0) })
    process.stdin.resume()
  }
} catch (_) {}
if (timeout > 0) setTimeout(() => { log(`timeout after ${timeout}s`); emit({ event: 'timeout', seconds: timeout }); stop(3) }, timeout * 1000).unref()

server.listen(port, host, () => {
  const addr = server.address()
  log(`y-websocket ${version} reference server on ${addr.address}:${addr.port}`)
  emit({ event: 'listening', host: addr.address, port: addr.port, version })
})
