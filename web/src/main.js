// The demo page of `wiredb serve`: a shared CodeMirror 6 editor on the room named by the URL path.
//
//   http://HOST:PORT/ROOM            edit ROOM (ROOM may contain '/', it is percent-decoded)
//   http://HOST:PORT/                pick a random room demo-XXXXXX and show it in the URL
//   http://HOST:PORT/ROOM?token=T    pass T to the server as the WebSocket's ?token=
//
// For tests: window.wiredb = { ydoc, provider, ytext, view, room }.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightSpecialChars, drawSelection } from '@codemirror/view'
import { defaultKeymap } from '@codemirror/commands'

const $ = (sel) => /** @type {HTMLElement} */ (document.querySelector(sel))

// ------------------------------------------------------------------------- room and token
const randomString = (n, alphabet) => {
  const bytes = crypto.getRandomValues(new Uint8Array(n))
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('')
}

const pathRoom = () => {
  try {
    return decodeURIComponent(location.pathname.slice(1))
  } catch {
    return location.pathname.slice(1) // a malformed %-escape: take the path as it is
  }
}

let room = pathRoom()
if (room === '') {
  room = 'demo-' + randomString(6, 'abcdefghijklmnopqrstuvwxyz0123456789')
  history.replaceState(null, '', '/' + room + location.search + location.hash)
}
// The room as a URL path: each segment percent-encoded, the '/' between them kept, so the
// WebSocket URL has the same path as this page (the server percent-decodes the whole path).
const roomPath = room.split('/').map(encodeURIComponent).join('/')

const token = new URLSearchParams(location.search).get('token')
/** @type {Record<string, string>} */
const params = token != null ? { token } : {}

// ------------------------------------------------------------------------------- identity
const NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Margaret', 'Ken',
  'Dennis', 'Frances', 'John', 'Radia', 'Leslie', 'Niklaus', 'Sophie', 'Tim']
const COLORS = [ // [color, colorLight]
  ['#d1495b', '#d1495b33'], ['#2e86ab', '#2e86ab33'], ['#3c9d4e', '#3c9d4e33'],
  ['#e0a100', '#e0a10033'], ['#8e44ad', '#8e44ad33'], ['#e4572e', '#e4572e33'],
  ['#17a2a2', '#17a2a233'], ['#c2185b', '#c2185b33']
]
const pick = (list) => list[crypto.getRandomValues(new Uint32Array(1))[0] % list.length]

const storage = (() => {
  try { return window.localStorage } catch { return null }
})()
const stored = (key) => { try { return storage && storage.getItem(key) } catch { return null } }
const store = (key, value) => { try { storage && storage.setItem(key, value) } catch {} }

let name = stored('wiredb.name') || pick(NAMES) + ' ' + (10 + Math.floor(Math.random() * 90))
const [color, colorLight] = pick(COLORS)

// ------------------------------------------------------------------------ document + sync
const ydoc = new Y.Doc()
const ytext = ydoc.getText('codemirror')
const wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host
const provider = new WebsocketProvider(wsUrl, roomPath, ydoc, { params })
const awareness = provider.awareness
const setUser = () => awareness.setLocalStateField('user', { name, color, colorLight })
setUser()
// y-websocket removes a peer's presence when the server reports it gone; telling the others
// ourselves on the way out makes it immediate.
window.addEventListener('pagehide', () => awareness.setLocalState(null))

// --------------------------------------------------------------------------------- editor
const undoManager = new Y.UndoManager(ytext)
const view = new EditorView({
  parent: $('#editor'),
  doc: ytext.toString(),
  extensions: [
    // CodeMirror's minimalSetup less its own history: undo is Yjs's (local edits only).
    highlightSpecialChars(),
    drawSelection(),
    keymap.of([...yUndoManagerKeymap, ...defaultKeymap]),
    lineNumbers(),
    highlightActiveLine(),
    EditorView.lineWrapping,
    EditorView.contentAttributes.of({ 'aria-label': 'Shared document' }),
    yCollab(ytext, awareness, { undoManager })
  ]
})

// ------------------------------------------------------------------------------------ UI
$('#room').textContent = room
document.title = room + ' · wiredb'

const nameInput = /** @type {HTMLInputElement} */ ($('#name'))
nameInput.value = name
$('#me').style.setProperty('--c', color)
nameInput.addEventListener('input', () => {
  const v = nameInput.value.trim()
  name = v === '' ? 'Anonymous' : v.slice(0, 40)
  store('wiredb.name', name)
  setUser()
})

const statusEl = $('#status')
const button = /** @type {HTMLButtonElement} */ ($('#connection'))
const showStatus = (status) => {
  statusEl.textContent = status
  statusEl.dataset.status = status
}
const showButton = () => {
  button.textContent = provider.shouldConnect ? 'Go offline' : 'Go online'
  button.setAttribute('aria-pressed', String(!provider.shouldConnect))
}
showStatus(provider.wsconnected ? 'connected' : provider.wsconnecting ? 'connecting' : 'disconnected')
showButton()
provider.on('status', ({ status }) => {
  showStatus(status)
  // Peers forgot us when we left (our own "gone" message, or the server's for us) and keep
  // our awareness clock from then: the state y-websocket sends on reconnecting has that same
  // clock and would be ignored until its next renewal (up to 15 s). A new clock is news.
  if (status === 'connected' && awareness.getLocalState() !== null) setUser()
})
button.addEventListener('click', () => {
  if (provider.shouldConnect) {
    provider.disconnect()
    showStatus('disconnected')
  } else {
    provider.connect()
  }
  showButton()
})

const peersEl = $('#peers')
const countEl = $('#peer-count')
const renderPeers = () => {
  const items = []
  awareness.getStates().forEach((state, clientId) => {
    if (clientId === ydoc.clientID || state.user == null) return
    const li = document.createElement('li')
    li.dataset.clientId = String(clientId)
    li.textContent = String(state.user.name ?? 'Anonymous')
    if (typeof state.user.color === 'string') li.style.setProperty('--c', state.user.color)
    items.push(li)
  })
  items.sort((a, b) => a.textContent.localeCompare(b.textContent))
  peersEl.replaceChildren(...items)
  countEl.textContent = String(items.length)
}
awareness.on('change', renderPeers)
renderPeers()

window.wiredb = { ydoc, provider, ytext, view, room }
