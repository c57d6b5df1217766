// End-to-end test of the demo page of `wiredb serve`, in headless Chromium.
//
//   WIREDB_BIN=target/debug/wiredb node web/tests/demo.e2e.mjs
//
// Environment:
//   WIREDB_BIN     the wiredb binary (required)
//   ARTIFACT_DIR   where the screenshots go (default web/test-artifacts)
//   CHROMIUM       the browser (default /usr/bin/chromium, Debian's package `chromium`)
//
// Starts `wiredb serve` on a free port with a temporary data directory, opens the page in
// separate browser contexts (separate users) and checks: typing syncs both ways, presence
// (peer list and remote cursors), offline edits merge, a closed peer leaves the list, and
// after a server restart the text is in the room's file, the page reconnects by itself and
// a new page gets the whole text. Prints one line per step; exits 0 when all pass, 1 with
// the failing step (and the server's stderr) otherwise.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const WEB = dirname(dirname(fileURLToPath(import.meta.url)))
// A liveness bound, as the Rust tests' PATIENCE: reached only when something is wrong (a
// loaded CI machine is slow, never 30 s slow).
const STEP_TIMEOUT_MS = 30_000
const LAUNCH_TIMEOUT_MS = 120_000
const ROOM = 'e2e-room'

const fail = (msg) => { console.error(`demo.e2e: FAILED: ${msg}`); process.exit(1) }

const BIN = process.env.WIREDB_BIN
if (!BIN) fail('WIREDB_BIN is not set: point it at the wiredb binary, e.g. WIREDB_BIN=target/debug/wiredb (cargo build -p wiredb-cli --bin wiredb)')
if (!existsSync(BIN)) fail(`WIREDB_BIN=${BIN} does not exist (cargo build -p wiredb-cli --bin wiredb)`)
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'
if (!existsSync(CHROMIUM)) fail(`no browser at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set CHROMIUM=...)`)
const ARTIFACTS = resolve(process.env.ARTIFACT_DIR || join(WEB, 'test-artifacts'))

// ------------------------------------------------------------------------------ helpers
const started = Date.now()
let stepNo = 0
let currentStep = '(setup)'

/** Runs one step, printing it; a step that takes longer than STEP_TIMEOUT_MS fails. */
async function step (name, fn, timeoutMs = STEP_TIMEOUT_MS) {
  currentStep = name
  const t0 = Date.now()
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000} s`)), timeoutMs)
  })
  try {
    const result = await Promise.race([fn(), timeout])
    console.log(`ok ${++stepNo} - ${name} (${Date.now() - t0} ms)`)
    return result
  } catch (e) {
    const err = new Error(`step "${name}": ${e && e.message ? e.message : e}`)
    err.cause = e
    throw err
  } finally {
    clearTimeout(timer)
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `probe` (async, returns [done, detail]) until done; throws with the last detail. */
async function until (what, probe, timeoutMs = STEP_TIMEOUT_MS - 1000) {
  const deadline = Date.now() + timeoutMs
  let detail
  for (;;) {
    const [done, d] = await probe()
    detail = d
    if (done) return d
    if (Date.now() > deadline) throw new Error(`${what}; last seen: ${JSON.stringify(detail)}`)
    await sleep(50)
  }
}

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

// ------------------------------------------------------------------------------- server
let serverLog = '' // stderr (and stdout) of every server run, printed on failure
let server = null // { child, exited: Promise<{code, signal}> }
let run = 0

/** Appends the lines of `stream` to serverLog, each with `prefix`. */
function logLines (stream, prefix) {
  let partial = ''
  stream.setEncoding('utf8')
  stream.on('data', (s) => {
    const lines = (partial + s).split('\n')
    partial = lines.pop()
    for (const l of lines) serverLog += prefix + l + '\n'
  })
  stream.on('end', () => { if (partial) serverLog += prefix + partial + '\n' })
}

async function startServer (port, dir) {
  const n = ++run
  const child = spawn(BIN, ['serve', '--port', String(port), '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' }
  })
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  server = { child, exited }
  logLines(child.stderr, `[server ${n} stderr] `)
  logLines(child.stdout, `[server ${n} stdout] `)
  let out = ''
  const up = new Promise((resolve, reject) => {
    child.stdout.on('data', (s) => {
      out += s
      const m = out.match(/wiredb serving on ws:\/\/[^\s/]+:(\d+)\//)
      if (m) {
        if (Number(m[1]) !== port) reject(new Error(`server says port ${m[1]}, asked for ${port}`))
        else resolve()
      }
    })
    child.on('error', (e) => reject(new Error(`cannot start ${BIN}: ${e.message}`)))
    exited.then(({ code, signal }) => reject(new Error(`server exited before serving (code ${code}, signal ${signal})`)))
  })
  await up
}

async function stopServer () {
  const { child, exited } = server
  child.kill('SIGTERM')
  const res = await exited
  server = null
  return res
}

function runInspect (file) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['inspect', '--json', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (s) => { out += s })
    child.stderr.setEncoding('utf8').on('data', (s) => { err += s })
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`wiredb inspect exited ${code}: ${err.trim()}`))
      try { resolve(JSON.parse(out)) } catch (e) { reject(new Error(`wiredb inspect --json printed no JSON: ${out.slice(0, 500)}`)) }
    })
  })
}

// -------------------------------------------------------------------------------- pages
const pageErrors = []
/** Set while the test itself has the server down (the restart): a page's attempts
 * to reconnect meanwhile are refused, and Chromium logs each refusal as an error. */
let restarting = false
const refusedWhileRestarting = []

async function openPage (browser, label, url) {
  const context = await browser.newContext({ viewport: { width: 900, height: 560 } })
  context.setDefaultTimeout(STEP_TIMEOUT_MS - 1000)
  const page = await context.newPage()
  page.on('pageerror', (e) => pageErrors.push(`page ${label}: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() !== 'error') return
    const text = `page ${label} console: ${m.text()}`
    if (restarting && m.text().includes('ERR_CONNECTION_REFUSED')) refusedWhileRestarting.push(text)
    else pageErrors.push(text)
  })
  await page.goto(url)
  return { label, context, page }
}

const status = (p) => p.page.getAttribute('#status', 'data-status')
const waitStatus = (p, s) => p.page.waitForSelector(`#status[data-status=${s}]`)
/** The editor's text: CodeMirror's document, and the lines it shows, which must agree. */
async function editorText (p) {
  return p.page.evaluate(() => {
    const doc = window.wiredb.view.state.doc.toString()
    // The text in the lines, less widgets (remote cursors with their name labels).
    const lineText = (line) => {
      let t = ''
      const walk = document.createTreeWalker(line, NodeFilter.SHOW_TEXT)
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        if (!n.parentElement.closest('[contenteditable=false]')) t += n.data
      }
      return t
    }
    const shown = Array.from(document.querySelectorAll('#editor .cm-line'), lineText).join('\n')
    return { doc, shown, ytext: window.wiredb.ytext.toString() }
  })
}
async function waitText (p, want, what) {
  return until(`${p.label}'s editor ${what}`, async () => {
    const t = await editorText(p)
    const ok = typeof want === 'function' ? want(t.doc) : t.doc === want
    return [ok && t.shown === t.doc && t.ytext === t.doc, t]
  })
}
/** Real typing at the end of the document. */
async function typeAtEnd (p, text) {
  await p.page.click('#editor .cm-content')
  await p.page.keyboard.press('Control+End')
  await p.page.keyboard.type(text, { delay: 5 })
}
const peerNames = (p) => p.page.locator('#peers li').allTextContents()
const myName = (p) => p.page.inputValue('#name')
const clientId = (p) => p.page.evaluate(() => window.wiredb.ydoc.clientID)

// --------------------------------------------------------------------------------- main
let browser = null
const pages = []
let dataDir = null
let ok = false
try {
  dataDir = await mkdtemp(join(tmpdir(), 'wiredb-e2e-'))
  await mkdir(ARTIFACTS, { recursive: true })
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/${ROOM}`

  await step(`start wiredb serve --port ${port} --dir ${dataDir}`, () => startServer(port, dataDir))
  // A cold start reads a 200 MB binary and its caches from disk: measured at 13.7 s
  // on an idle machine after a build had evicted them (0.2-0.3 s warm), and over 30 s
  // while the machine was busy. Its own bound, a liveness bound like the others.
  browser = await step(`launch ${CHROMIUM}`, () => chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: LAUNCH_TIMEOUT_MS,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  }), LAUNCH_TIMEOUT_MS + 5_000)
  console.log(`# chromium ${browser.version()}, page ${url}`)

  const A = await step('open page A', () => openPage(browser, 'A', url))
  const B = await step('open page B', () => openPage(browser, 'B', url))
  pages.push(A, B)
  await step('A and B connected', async () => {
    await waitStatus(A, 'connected')
    await waitStatus(B, 'connected')
    const room = await A.page.evaluate(() => window.wiredb.room)
    if (room !== ROOM) throw new Error(`window.wiredb.room is ${JSON.stringify(room)}, want ${ROOM}`)
  })

  const textA1 = 'Hello from A.'
  await step('A types, B sees it', async () => {
    await typeAtEnd(A, textA1)
    await waitText(A, textA1, `shows what A typed (${JSON.stringify(textA1)})`)
    await waitText(B, textA1, `shows what A typed (${JSON.stringify(textA1)})`)
  })
  const textAB = textA1 + '\nAnd hello from B!'
  await step('B types, A sees it; both texts equal', async () => {
    await typeAtEnd(B, '\nAnd hello from B!')
    await waitText(B, textAB, 'shows what B typed')
    await waitText(A, textAB, 'shows what B typed')
  })

  const nameA = await myName(A)
  const nameB = await myName(B)
  await step(`presence: A lists ${JSON.stringify(nameB)}, B lists ${JSON.stringify(nameA)}`, async () => {
    if (!nameA || !nameB) throw new Error(`empty #name: A ${JSON.stringify(nameA)}, B ${JSON.stringify(nameB)}`)
    await until('A #peers lists B', async () => { const n = await peerNames(A); return [n.length === 1 && n[0] === nameB, n] })
    await until('B #peers lists A', async () => { const n = await peerNames(B); return [n.length === 1 && n[0] === nameA, n] })
    const idB = await clientId(B)
    const li = await A.page.locator(`#peers li[data-client-id="${idB}"]`).count()
    if (li !== 1) throw new Error(`A has ${li} #peers li with data-client-id=${idB} (B's client id)`)
  })
  await step('presence: each editor shows the other\'s cursor with its name', async () => {
    for (const [p, other] of [[A, nameB], [B, nameA]]) {
      await until(`${p.label} shows ${other}'s cursor`, async () => {
        const infos = await p.page.locator('#editor .cm-ySelectionCaret .cm-ySelectionInfo').allTextContents()
        return [infos.includes(other), infos]
      })
    }
  })

  await step('screenshots of A and B', async () => {
    const shots = []
    for (const p of [A, B]) {
      const file = join(ARTIFACTS, `page-${p.label.toLowerCase()}.png`)
      shots.push(await p.page.screenshot({ path: file }))
    }
    // Both side by side in one picture.
    const ctx = await browser.newContext({ viewport: { width: 1812, height: 600 } })
    try {
      const page = await ctx.newPage()
      const img = (buf, label) => `<figure><figcaption>${label}</figcaption><img src="data:image/png;base64,${buf.toString('base64')}"></figure>`
      await page.setContent(`<!doctype html><style>body{margin:0;display:flex;gap:12px;background:#888;font:13px system-ui}
        figure{margin:0}figcaption{color:#fff;padding:4px 6px}img{display:block;width:900px}</style>
        ${img(shots[0], `A: ${nameA}`)}${img(shots[1], `B: ${nameB}`)}`)
      await page.screenshot({ path: join(ARTIFACTS, 'pages-a-b.png'), fullPage: true })
    } finally {
      await ctx.close()
    }
    console.log(`# screenshots: ${join(ARTIFACTS, 'page-a.png')}, page-b.png, pages-a-b.png`)
  })

  const offB = ' [B offline]'
  const onA = ' [A online]'
  await step('B goes offline (#connection)', async () => {
    await B.page.click('#connection')
    await waitStatus(B, 'disconnected')
    const label = await B.page.textContent('#connection')
    if (label !== 'Go online') throw new Error(`#connection says ${JSON.stringify(label)} when offline, want "Go online"`)
    await until('B lists no peers while offline', async () => { const n = await peerNames(B); return [n.length === 0, n] })
    await until('A no longer lists B', async () => { const n = await peerNames(A); return [n.length === 0, n] })
  })
  await step('B types offline, A types online; neither sees the other\'s edit', async () => {
    await typeAtEnd(B, offB)
    await typeAtEnd(A, onA)
    await waitText(B, textAB + offB, 'has its offline edit')
    await waitText(A, textAB + onA, 'has its edit')
    await sleep(500)
    const [a, b] = [await editorText(A), await editorText(B)]
    if (a.doc.includes(offB)) throw new Error(`A got B's offline edit: ${JSON.stringify(a.doc)}`)
    if (b.doc.includes(onA)) throw new Error(`offline B got A's edit: ${JSON.stringify(b.doc)}`)
    if ((await status(B)) !== 'disconnected') throw new Error('B is not disconnected any more')
  })
  let merged
  await step('B goes online; both converge with both edits', async () => {
    await B.page.click('#connection')
    await waitStatus(B, 'connected')
    const label = await B.page.textContent('#connection')
    if (label !== 'Go offline') throw new Error(`#connection says ${JSON.stringify(label)} when online, want "Go offline"`)
    const both = (t) => t.startsWith(textAB) && t.includes(offB) && t.includes(onA) &&
      t.length === textAB.length + offB.length + onA.length
    const a = await waitText(A, both, 'has both edits')
    await waitText(B, a.doc, 'equals A\'s')
    merged = a.doc
    await until('A lists B again', async () => { const n = await peerNames(A); return [n.length === 1 && n[0] === nameB, n] })
  })
  console.log(`# merged text: ${JSON.stringify(merged)}`)

  await step('B closes; A no longer lists B', async () => {
    const idB = await clientId(B)
    await B.context.close()
    pages.splice(pages.indexOf(B), 1)
    await until('A #peers drops B', async () => {
      const n = await A.page.locator(`#peers li[data-client-id="${idB}"]`).count()
      return [n === 0, await peerNames(A)]
    }, 20_000)
    const carets = await A.page.locator('#editor .cm-ySelectionCaret').count()
    if (carets !== 0) throw new Error(`A still shows ${carets} remote cursor(s)`)
  })

  await step('SIGTERM: the server exits 0, A sees it disconnected', async () => {
    restarting = true
    const { code, signal } = await stopServer()
    if (code !== 0) throw new Error(`server exited with code ${code}, signal ${signal}; want code 0`)
    await waitStatus(A, 'disconnected')
  })
  const file = join(dataDir, `${ROOM}_updates.y`)
  await step(`wiredb inspect --json ${file} has the text`, async () => {
    if (!existsSync(file)) throw new Error(`no file ${file}`)
    const report = await runInspect(file)
    const root = report.roots && report.roots.codemirror
    if (!root) throw new Error(`no root "codemirror" in ${JSON.stringify(report).slice(0, 500)}`)
    if (root.value !== merged) throw new Error(`root codemirror is ${JSON.stringify(root)}, want value ${JSON.stringify(merged)}`)
    if (root.type !== 'Y.Text') throw new Error(`root codemirror has type ${JSON.stringify(root.type)}, want "Y.Text"`)
  })
  await step('restart the server on the same port and dir', () => startServer(port, dataDir))
  await step('A reconnects by itself', async () => {
    await waitStatus(A, 'connected')
    await waitText(A, merged, 'still has the text')
    // Connected again: from here on a refused connection is an error.
    restarting = false
    if (refusedWhileRestarting.length) console.log(`# refused while the server was down (expected): ${refusedWhileRestarting.length}`)
  })
  const C = await step('open page C: it shows the whole text', async () => {
    const C = await openPage(browser, 'C', url)
    pages.push(C)
    await waitStatus(C, 'connected')
    await waitText(C, merged, 'has the whole text')
    return C
  })
  const more = '\nAfter the restart.'
  await step('A types more, C sees it', async () => {
    await typeAtEnd(A, more)
    await waitText(C, merged + more, 'shows what A typed')
    await waitText(A, merged + more, 'shows what it typed')
  })
  await step('no errors in the pages', async () => {
    if (pageErrors.length) throw new Error(pageErrors.join('\n'))
  })
  ok = true
} catch (e) {
  console.error(`demo.e2e: FAILED in step "${currentStep}"`)
  console.error(e && e.stack ? e.stack : e)
  for (const p of pages) {
    const f = join(ARTIFACTS, `failure-page-${p.label.toLowerCase()}.png`)
    try { await p.page.screenshot({ path: f, timeout: 3000 }); console.error(`screenshot: ${f}`) } catch {}
  }
  if (pageErrors.length) console.error('page errors:\n  ' + pageErrors.join('\n  '))
  console.error(`--- server output ---\n${serverLog || '(none)'}--- end of server output ---`)
  if (dataDir) console.error(`data directory kept: ${dataDir}`)
} finally {
  if (server) {
    server.child.kill('SIGKILL')
    await Promise.race([server.exited, sleep(3000)])
  }
  if (browser) await browser.close().catch(() => {})
  if (ok && dataDir) await rm(dataDir, { recursive: true, force: true })
}
if (ok) {
  console.log(`demo.e2e: ${stepNo} steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  console.log(`${stepNo} passed, 0 failed`)
} else {
  console.log(`${stepNo} passed, 1 failed`)
}
process.exit(ok ? 0 : 1)
