#!/usr/bin/env node
// A real y-websocket client (y-websocket 3.x `WebsocketProvider` + yjs) driven from the
// command line, for the wiredb interop tests. Run `node js_client.js --help`.
//
// Protocol with the test: stdout carries one JSON object per line (flushed per line, never
// anything else); stderr carries human-readable logs. Exit codes: 0 ok, 1 error,
// 2 bad usage, 3 overall timeout.
'use strict'

const path = require('path')
const readline = require('readline')

const USAGE = `usage: node js_client.js --url ws://127.0.0.1:PORT --room NAME [options]

Connects a y-websocket WebsocketProvider to URL/ROOM and, once synced:
  --text STR              insert STR at the end of Y.Text "text" (repeatable, in order)
  --map-key K --map-value V
                          set map[K] = V (string) on Y.Map "map"
  --map K=V               same, repeatable
  --awareness JSON        set the local awareness state (set before connecting)
then waits until every condition holds:
  --wait-text SUBSTR      text contains SUBSTR (repeatable: all of them)
  --wait-map K=V          map[K] == V (string compare; non-strings compare as JSON; repeatable)
  --wait-awareness-count N
                          at least N non-null awareness states are visible (own included)
  --wait-awareness-gone   a remote awareness state was seen and is gone again (every remote
                          client seen so far has left)
then:
  --hold SECONDS          stay connected SECONDS more (default 0)
and prints {"event":"final",...} and exits 0.

  --stdin                 instead of exiting, read JSON commands, one per line, from stdin:
                          {"cmd":"insert","text":S[,"index":I]}  {"cmd":"delete","index":I,"length":N}
                          {"cmd":"set","key":K,"value":V}        {"cmd":"awareness","state":S|null}
                          {"cmd":"dump"}  {"cmd":"wait", "text":[...], "map":{K:V},
                          "awareness_count":N, "awareness_gone":true, "timeout":SECONDS}
                          {"cmd":"quit"} (stdin EOF = quit). Each command answers one line.
  --timeout SECONDS       hard limit for the whole run (default 30): exit 3
  --quiet                 do not print "change" events
  --exit-on-close         once synced, if the server closes the connection, print "final"
                          and exit 0 (default: y-websocket reconnects by itself)
  --help

stdout events: {"event":"status","status":...} {"event":"synced","client_id":N}
  {"event":"change","text":...,"map":{...}}   (after every remote document update)
  {"event":"awareness","added":[..],"updated":[..],"removed":[..],"states":{"id":state}}
  {"event":"final","client_id":N,"text":...,"map":{...},"awareness":{"id":state}}
  {"event":"connection-close","code":N,"reason":S}   (the server closed the socket)
  {"event":"error","message":...}   {"event":"timeout","pending":[...]}
"final" / "timeout" is always the last line.
Exit codes: 0 ok, 1 error, 2 bad usage, 3 timeout.`

// ---------------------------------------------------------------- output

// Once "final" (or "timeout") is out, nothing but errors follows it: the last line a test
// reads is the verdict, not the awareness noise of our own disconnect.
let closedOutput = false
function emit (obj) {
  if (closedOutput && obj.event !== 'error') return
  if (obj.event === 'final' || obj.event === 'timeout') closedOutput = true
  // process.stdout.write to a pipe is asynchronous in node but ordered; `exit` drains it.
  process.stdout.write(JSON.stringify(obj) + '\n')
}
function log (...args) {
  process.stderr.write('[js_client] ' + args.join(' ') + '\n')
}

let exiting = false
function exit (code) {
  if (exiting) return
  exiting = true
  // Let stdout/stderr flush before leaving (they are async when piped).
  const done = () => process.exit(code)
  if (process.stdout.writableLength === 0) {
    setImmediate(done)
  } else {
    process.stdout.once('drain', done)
    setTimeout(done, 1000).unref()
  }
}

function fail (message, code = 1) {
  log('error:', message)
  emit({ event: 'error', message })
  exit(code)
}

// ---------------------------------------------------------------- arguments

function parseArgs (argv) {
  const o = {
    url: null,
    room: null,
    texts: [],
    maps: [],
    awareness: undefined,
    waitText: [],
    waitMap: [],
    waitAwarenessCount: null,
    waitAwarenessGone: false,
    hold: 0,
    stdin: false,
    timeout: 30,
    quiet: false,
    exitOnClose: false
  }
  let pendingKey = null
  const need = (i, flag) => {
    if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`)
    return argv[i + 1]
  }
  const num = (v, flag) => {
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: not a non-negative number: ${v}`)
    return n
  }
  const kv = (v, flag) => {
    const eq = v.indexOf('=')
    if (eq < 0) throw new Error(`${flag}: expected K=V, got ${v}`)
    return [v.slice(0, eq), v.slice(eq + 1)]
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    switch (a) {
      case '--url': o.url = need(i, a); i++; break
      case '--room': o.room = need(i, a); i++; break
      case '--text': o.texts.push(need(i, a)); i++; break
      case '--map-key': pendingKey = need(i, a); i++; break
      case '--map-value':
        if (pendingKey === null) throw new Error('--map-value without a preceding --map-key')
        o.maps.push([pendingKey, need(i, a)]); pendingKey = null; i++; break
      case '--map': o.maps.push(kv(need(i, a), a)); i++; break
      case '--awareness':
        try { o.awareness = JSON.parse(need(i, a)) } catch (e) { throw new Error(`--awareness: invalid JSON: ${e.message}`) }
        i++; break
      case '--wait-text': o.waitText.push(need(i, a)); i++; break
      case '--wait-map': o.waitMap.push(kv(need(i, a), a)); i++; break
      case '--wait-awareness-count': o.waitAwarenessCount = num(need(i, a), a); i++; break
      case '--wait-awareness-gone': o.waitAwarenessGone = true; break
      case '--hold': o.hold = num(need(i, a), a); i++; break
      case '--timeout': o.timeout = num(need(i, a), a); i++; break
      case '--stdin': o.stdin = true; break
      case '--quiet': o.quiet = true; break
      case '--exit-on-close': o.exitOnClose = true; break
      case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break
      default: throw new Error(`unknown argument: ${a}`)
    }
  }
  if (pendingKey !== null) throw new Error('--map-key without --map-value')
  if (!o.url) throw new Error('--url is required')
  let u
  try { u = new URL(o.url) } catch (e) { throw new Error(`--url: not a URL: ${o.url}`) }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol) || !u.hostname || !u.port) throw new Error(`--url: expected ws://HOST:PORT, got ${o.url}`)
  if (u.pathname !== '/' && u.pathname !== '') throw new Error(`--url: give the room with --room, not in the URL path: ${o.url}`)
  o.url = o.url.replace(/\/+$/, '')
  if (o.room === null) throw new Error('--room is required')
  return o
}

let opts
try {
  opts = parseArgs(process.argv.slice(2))
} catch (e) {
  process.stderr.write(`js_client: ${e.message} (see --help)\n`)
  process.exit(2)
}

// Resolve packages from tests/interop/node_modules whatever the caller's cwd is.
const req = (name) => require(require.resolve(name, { paths: [__dirname, path.join(__dirname, 'node_modules')] }))
let Y, WebsocketProvider, WS
try {
  Y = req('yjs')
  WebsocketProvider = req('y-websocket').WebsocketProvider
  WS = req('ws')
} catch (e) {
  process.stderr.write(`js_client: cannot load yjs / y-websocket / ws (run tests/interop/install-peers.sh): ${e.message}\n`)
  process.exit(1)
}

// ---------------------------------------------------------------- the peer

const doc = new Y.Doc()
const ytext = doc.getText('text')
const ymap = doc.getMap('map')

const provider = new WebsocketProvider(opts.url, opts.room, doc, {
  WebSocketPolyfill: WS,
  disableBc: true,
  connect: false
})
const awareness = provider.awareness
// The provider starts with an empty local state `{}`; keep it unless asked (matches a
// plain y-websocket app), and set the requested state before the first connect.
if (opts.awareness !== undefined) awareness.setLocalState(opts.awareness)

const hardTimer = setTimeout(() => {
  const pending = pendingConditions(cliWait)
  log(`timeout after ${opts.timeout}s; pending: ${JSON.stringify(pending)}; synced=${provider.synced}`)
  emit({ event: 'timeout', seconds: opts.timeout, synced: provider.synced, pending, ...snapshot() })
  shutdown(3)
}, opts.timeout * 1000)

function snapshot () {
  return { text: ytext.toString(), map: ymap.toJSON() }
}
function awarenessStates () {
  const out = {}
  for (const [id, state] of awareness.getStates()) out[String(id)] = state
  return out
}

// Remote client ids whose non-null awareness state has been seen at some point.
const seenRemote = new Set()

function valueMatches (actual, want) {
  if (actual === undefined) return false
  if (typeof actual === 'string') return actual === want
  return JSON.stringify(actual) === want
}

// A wait condition: { text: [..], map: [[k, v], ..], awarenessCount: N|null, awarenessGone: bool }
function pendingConditions (w) {
  if (!w) return []
  const pending = []
  if (!provider.synced) pending.push('synced')
  const text = ytext.toString()
  for (const s of w.text) if (!text.includes(s)) pending.push(`text contains ${JSON.stringify(s)}`)
  for (const [k, v] of w.map) if (!valueMatches(ymap.get(k), v)) pending.push(`map[${JSON.stringify(k)}] == ${JSON.stringify(v)}`)
  if (w.awarenessCount !== null) {
    let n = 0
    for (const state of awareness.getStates().values()) if (state !== null && state !== undefined) n++
    if (n < w.awarenessCount) pending.push(`awareness count ${n} < ${w.awarenessCount}`)
  }
  if (w.awarenessGone) {
    if (seenRemote.size === 0) pending.push('awareness gone: no remote state seen yet')
    else {
      const states = awareness.getStates()
      for (const id of seenRemote) if (states.get(id) != null) pending.push(`awareness gone: client ${id} still present`)
    }
  }
  return pending
}

// Waiters re-checked after every change that could satisfy them.
const waiters = new Set()
function checkWaiters () {
  for (const w of Array.from(waiters)) {
    if (pendingConditions(w.cond).length === 0) {
      waiters.delete(w)
      clearTimeout(w.timer)
      w.resolve(true)
    }
  }
}
function waitFor (cond, timeoutSec) {
  return new Promise((resolve) => {
    const w = { cond, resolve, timer: null }
    if (timeoutSec != null) {
      w.timer = setTimeout(() => { waiters.delete(w); resolve(false) }, timeoutSec * 1000)
    }
    waiters.add(w)
    checkWaiters()
  })
}

let lastStatus = null
provider.on('status', ({ status }) => {
  // Reconnect attempts repeat "connecting": report changes only.
  if (status === lastStatus) return
  lastStatus = status
  emit({ event: 'status', status })
  log('status', status)
})
provider.on('connection-error', (ev) => log('connection error:', (ev && (ev.message || (ev.error && ev.error.message))) || 'unknown'))
provider.on('connection-close', (ev) => {
  // ev is null when we closed it ourselves (destroy, or y-websocket's 30 s silence watchdog).
  // Failed reconnect attempts also "close" (code 1006): report only a connection that was up.
  if (!ev || shuttingDown || !provider.wsconnected) return
  log(`connection closed by peer: code=${ev.code} reason=${ev.reason || ''}`)
  emit({ event: 'connection-close', code: ev.code, reason: String(ev.reason || '') })
  if (opts.exitOnClose && syncedOnce) shutdown(0, finalEvent())
})
provider.on('closed', (ev) => fail(`server closed the connection permanently: code=${ev.code} reason=${ev.reason}`))

let syncedOnce = false
let resolveSynced
const syncedPromise = new Promise((resolve) => { resolveSynced = resolve })
provider.on('sync', (isSynced) => {
  if (isSynced && !syncedOnce) {
    syncedOnce = true
    emit({ event: 'synced', client_id: doc.clientID })
    log('synced, client id', doc.clientID)
    resolveSynced()
  }
  checkWaiters()
})

doc.on('update', (_update, origin) => {
  // origin === provider: applied from the wire; anything else is a local edit.
  if (origin === provider && !opts.quiet) emit({ event: 'change', ...snapshot() })
  checkWaiters()
})

awareness.on('change', ({ added, updated, removed }, origin) => {
  const states = awarenessStates()
  for (const id of added.concat(updated)) {
    if (id !== doc.clientID && awareness.getStates().get(id) != null) seenRemote.add(id)
  }
  emit({ event: 'awareness', added, updated, removed, states, self: doc.clientID, local: origin === 'local' })
  checkWaiters()
})

// ---------------------------------------------------------------- shutdown

let shuttingDown = false
function shutdown (code, finalEvent = null) {
  if (shuttingDown) return
  shuttingDown = true
  clearTimeout(hardTimer)
  if (finalEvent) emit(finalEvent)
  const sock = provider.ws
  // destroy(): sends our awareness as null ("left"), closes the socket, stops reconnecting.
  const waitClose = new Promise((resolve) => {
    if (!sock || sock.readyState === sock.CLOSED) return resolve()
    sock.once('close', resolve)
    setTimeout(resolve, 1000).unref()
  })
  // Give already-queued frames (the last edits) a chance to leave before closing.
  const flushed = new Promise((resolve) => {
    const start = Date.now()
    const poll = () => {
      if (!sock || sock.bufferedAmount === 0 || Date.now() - start > 1000) resolve()
      else setTimeout(poll, 10)
    }
    poll()
  })
  flushed.then(() => {
    try { provider.destroy() } catch (e) { log('destroy failed:', e.message) }
    return waitClose
  }).then(() => exit(code))
}

function finalEvent () {
  return { event: 'final', client_id: doc.clientID, ...snapshot(), awareness: awarenessStates() }
}

process.on('SIGTERM', () => { log('SIGTERM'); shutdown(0, finalEvent()) })
process.on('SIGINT', () => { log('SIGINT'); shutdown(0, finalEvent()) })
process.on('uncaughtException', (e) => { fail(`uncaught exception: ${e && e.stack ? e.stack : e}`) })
process.on('unhandledRejection', (e) => { fail(`unhandled rejection: ${e && e.stack ? e.stack : e}`) })

// ---------------------------------------------------------------- main

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const cliWait = {
  text: opts.waitText,
  map: opts.waitMap,
  awarenessCount: opts.waitAwarenessCount,
  awarenessGone: opts.waitAwarenessGone
}

function applyEdits () {
  doc.transact(() => {
    for (const t of opts.texts) ytext.insert(ytext.length, t)
    for (const [k, v] of opts.maps) ymap.set(k, v)
  })
}

async function runCli () {
  await syncedPromise
  applyEdits()
  await waitFor(cliWait, null)
  if (opts.hold > 0) await sleep(opts.hold * 1000)
  shutdown(0, finalEvent())
}

function waitCondFromCommand (c) {
  const map = []
  if (c.map && typeof c.map === 'object') for (const k of Object.keys(c.map)) map.push([k, typeof c.map[k] === 'string' ? c.map[k] : JSON.stringify(c.map[k])])
  const text = c.text == null ? [] : (Array.isArray(c.text) ? c.text : [c.text])
  return {
    text: text.map(String),
    map,
    awarenessCount: c.awareness_count == null ? null : Number(c.awareness_count),
    awarenessGone: !!c.awareness_gone
  }
}

async function handleCommand (c) {
  switch (c.cmd) {
    case 'insert': {
      const s = String(c.text ?? '')
      const index = c.index == null ? ytext.length : Number(c.index)
      if (!(index >= 0 && index <= ytext.length)) throw new Error(`insert index ${c.index} out of range 0..${ytext.length}`)
      ytext.insert(index, s)
      return { event: 'ok', cmd: 'insert' }
    }
    case 'delete': {
      const index = Number(c.index); const length = Number(c.length)
      if (!(index >= 0 && length >= 0 && index + length <= ytext.length)) throw new Error(`delete ${c.index}+${c.length} out of range 0..${ytext.length}`)
      ytext.delete(index, length)
      return { event: 'ok', cmd: 'delete' }
    }
    case 'set':
      if (typeof c.key !== 'string') throw new Error('set needs a string "key"')
      ymap.set(c.key, c.value === undefined ? null : c.value)
      return { event: 'ok', cmd: 'set' }
    case 'awareness':
      awareness.setLocalState(c.state === undefined ? null : c.state)
      return { event: 'ok', cmd: 'awareness' }
    case 'dump':
      return { event: 'dump', client_id: doc.clientID, synced: provider.synced, ...snapshot(), awareness: awarenessStates() }
    case 'wait': {
      const cond = waitCondFromCommand(c)
      const ok = await waitFor(cond, c.timeout == null ? 10 : Number(c.timeout))
      return ok
        ? { event: 'waited', ...snapshot() }
        : { event: 'wait_timeout', pending: pendingConditions(cond), ...snapshot(), awareness: awarenessStates() }
    }
    case 'quit':
      return null
    default:
      throw new Error(`unknown cmd: ${JSON.stringify(c.cmd)}`)
  }
}

async function runStdin () {
  await syncedPromise
  applyEdits()
  const rl = readline.createInterface({ input: process.stdin, terminal: false })
  // Commands run strictly one after another, in order.
  let chain = Promise.resolve()
  let quitting = false
  const quit = () => {
    if (quitting) return
    quitting = true
    chain.then(() => shutdown(0, finalEvent()))
  }
  rl.on('line', (line) => {
    if (quitting || !line.trim()) return
    chain = chain.then(async () => {
      let c
      try { c = JSON.parse(line) } catch (e) {
        emit({ event: 'error', message: `invalid JSON command: ${e.message}`, line })
        return
      }
      try {
        const reply = await handleCommand(c)
        if (reply === null) quit()
        else emit(reply)
      } catch (e) {
        log('command failed:', e.message)
        emit({ event: 'error', message: e.message, cmd: c && c.cmd })
      }
    })
  })
  rl.on('close', quit)
}

log(`connecting to ${opts.url} room ${JSON.stringify(opts.room)}`)
provider.connect()
;(opts.stdin ? runStdin() : runCli()).catch((e) => fail(e && e.stack ? e.stack : String(e)))
