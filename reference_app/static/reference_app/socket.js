// Opens a JSON WebSocket to this site and reconnects with capped, jittered backoff so a restarted server is not stormed.
function openJsonSocket(path, { onMessage, onStatus }) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let attempt = 0;
  let socket = null;
  function connect() {
    socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.onopen = () => { attempt = 0; onStatus("connected"); };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      onStatus(`disconnected (code ${event.code}); reconnecting`);
      const delay = Math.random() * Math.min(30000, 500 * 2 ** attempt++);
      setTimeout(connect, delay);
    };
  }
  connect();
  return { send: (obj) => socket.send(JSON.stringify(obj)) };
}

function appendItem(list, text, cls) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  list.appendChild(li);
  return li;
}
