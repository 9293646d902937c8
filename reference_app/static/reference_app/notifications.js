(() => {
  const items = document.getElementById("items");
  const status = document.getElementById("status");
  const unread = new Set();
  const show = (n) => {
    if (!n.read) unread.add(n.id);
    appendItem(items, `${n.title}${n.body ? " — " + n.body : ""}`, n.read ? "read" : "unread").dataset.id = n.id;
  };
  const socket = openJsonSocket("/ws/notifications/", {
    onStatus: (s) => { status.textContent = s; },
    onMessage: (msg) => {
      if (msg.type === "backlog") { items.replaceChildren(); msg.items.forEach(show); }
      else if (msg.type === "notification") show(msg);
      else if (msg.type === "acked") msg.ids.forEach((id) => {
        unread.delete(id);
        const li = items.querySelector(`[data-id="${id}"]`);
        if (li) li.className = "read";
      });
    },
  });
  document.getElementById("mark-read").addEventListener("click", () => {
    const ids = [...unread].slice(0, 1000);
    if (ids.length) socket.send({ type: "ack", ids });
  });
})();
