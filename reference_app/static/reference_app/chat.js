(() => {
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const room = log.dataset.room;
  const socket = openJsonSocket(`/ws/chat/${room}/`, {
    onStatus: (s) => { status.textContent = s; },
    onMessage: (msg) => {
      if (msg.type === "message") appendItem(log, `${msg.user}: ${msg.text}`, "message");
      else if (msg.type === "presence") appendItem(log, `${msg.user} ${msg.event === "join" ? "joined" : "left"}`, "presence");
      else if (msg.type === "error") appendItem(log, `error: ${msg.detail}`, "error");
    },
  });
  document.getElementById("send-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    socket.send({ type: "message", text: input.value, sent_at: Date.now() });
    input.value = "";
  });
})();
