(() => {
  const status = document.getElementById("status");
  const last = document.getElementById("last");
  const punches = document.getElementById("punches");
  const terminal = status.dataset.terminal;
  const token = new URLSearchParams(location.search).get("token") || "";
  openJsonSocket(`/ws/terminal/${terminal}/?token=${encodeURIComponent(token)}`, {
    onStatus: (s) => { status.textContent = s; },
    onMessage: (msg) => {
      if (msg.type === "punch") {
        last.textContent = `${msg.employee.name}: ${msg.direction === "in" ? "clocked in" : "clocked out"}`;
        appendItem(punches, `${msg.inserted_at} ${msg.employee.name} ${msg.direction}`, "punch");
      } else if (msg.type === "unknown_key") {
        last.textContent = `Unknown key ${msg.key_serial}`;
        appendItem(punches, `${msg.inserted_at} unknown key ${msg.key_serial}`, "unknown");
      }
    },
  });
})();
