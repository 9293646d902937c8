"""How results name cells and print durations for people: shared by verdict sentences, reports and the progress line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.measure.punch_audit import PunchAudit

__all__ = [
    "busiest_process",
    "busiest_text",
    "cell_label",
    "cell_warnings",
    "foreign_sentence",
    "format_ms",
    "join_storm_sentence",
    "presence_text",
    "receipt_sentences",
    "user_error_sentence",
]


def format_ms(value_us: float) -> str:
    """Format microseconds as milliseconds with about three significant digits, without the unit."""
    ms = value_us / 1000.0
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def busiest_process(figures: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A capacity trial's busiest server-side process (``figures.server_processes`` is busiest first) as
    ``{name, cpu_percent}``; None when the trial sampled none or was written before processes were recorded."""
    processes = (figures or {}).get("server_processes") or []
    if not processes:
        return None
    return {"name": processes[0]["name"], "cpu_percent": processes[0]["cpu_percent"]}


def busiest_text(process: Mapping[str, Any] | None) -> str:
    """The busiest server-side process of a capacity trial as ``timeclock-worker 92 %`` (100 % = one core), or
    ``–`` when the trial sampled none (a --target, or a file written before processes were recorded)."""
    if not process:
        return "–"
    return f"{process['name']} {process['cpu_percent']:.0f} %"


def cell_label(cell: Mapping[str, Any]) -> str:
    """Name a cell for people: ``daphne+redis, 2 workers``."""
    workers = int(cell.get("workers", 1))
    return f"{cell.get('server', '?')}+{cell.get('layer', '?')}, {workers} worker{'' if workers == 1 else 's'}"


def cell_warnings(cell: Mapping[str, Any], label: str) -> list[str]:
    """Everything about one cell a reader must know before trusting its figures, each a sentence starting with
    ``label``: samples beyond the histogram or from mixed clocks, approximate accounting, dropped connections, a
    full channel layer, users that raised, messages not counted, join storms, failed connects."""
    out: list[str] = []
    metrics: list[tuple[str, Mapping[str, Any]]] = sorted(cell.get("metrics", {}).items())
    metrics += [(f"fanout (group size {g['group_size']})", g["metric"]) for g in cell.get("fanout_by_group_size", [])]
    for name, m in metrics:
        if m.get("out_of_range"):
            out.append(
                f"{label}, {name}: {m['out_of_range']:,} samples were above the histogram range "
                f"({format_ms(float(m['highest_trackable_us']))} ms; "
                f"largest {format_ms(float(m['max_out_of_range']))} ms) and are not in the percentiles, "
                "so high percentiles are underestimates. "
                "Raise highest_trackable_us, or find what stalled for that long."
            )
        if m.get("negative"):
            out.append(
                f"{label}, {name}: {m['negative']:,} negative durations were recorded as 0: the two timestamps "
                "came from clocks that cannot be compared. Keep senders and receivers on one host."
            )
    delivery = cell.get("delivery", {})
    if delivery and not delivery.get("exact", True):
        out.append(
            f"{label}: delivery counts are approximate: a stream had too many gaps to track exactly, so lost and "
            "duplicated are bounds. Look for the cause of the gaps first."
        )
    closes = cell.get("unexpected_closes", {})
    if closes.get("1006"):
        out.append(
            f"{label}: {closes['1006']:,} connections dropped without a close frame (1006); "
            "check the server log for crashes or timeouts."
        )
    pressure = cell.get("layer_pressure", {})
    if pressure.get("group_send_over_capacity") or pressure.get("channel_full"):
        out.append(
            f"{label}: the channel layer was at capacity: group_send skipped "
            f"{pressure['group_send_over_capacity']:,} deliveries and {pressure['channel_full']:,} sends raised "
            "ChannelFull (from the server logs). Consumers fell behind; raise capacity or lower the load."
        )
    elif pressure and not pressure.get("observable", True):
        out.append(
            f"{label}: this layer drops messages at capacity without logging them, so layer back-pressure could "
            "not be observed; rely on the delivery counts."
        )
    if (crashed := user_error_sentence(cell)) is not None:
        out.append(f"{label}: {crashed}")
    for fault in cell.get("faults") or ():
        # Documents written before fault kinds carry only the toxic's fields.
        name = fault.get("label") or f"{fault['toxic']} ({fault['direction']}, {fault['path']} path)"
        if fault.get("error"):
            out.append(f"{label}: fault {name} at {fault['start_s']:g} s: {fault['error']}")
        if fault["began_wall_s"] is None:
            out.append(f"{label}: fault {name} at {fault['start_s']:g} s never began: the load ended first")
            continue
        recovered = (
            "no delivery came after it"
            if fault["recovered_after_s"] is None
            else f"the first delivery after it came within {fault['recovered_after_s'] + 1} s of its end"
        )
        if fault.get("first_punch_after_s") is not None:
            after = fault["first_punch_after_s"]
            recovered += f"; the first punch inserted after it reached its kiosk {after:.2f} s after its end"
        if fault.get("kiosk_closes"):
            codes = ", ".join(f"{n} x {code}" for code, n in sorted(fault["kiosk_closes"].items()))
            recovered += f"; kiosk sockets closed: {codes}, welcomed again {fault.get('kiosk_reconnects', 0)}"
        if fault.get("gateway_readers_dropped") or fault.get("gateway_reconnects"):
            recovered += (
                f"; gateways: up to {fault['gateway_readers_dropped']} reader(s) not connected at once, "
                f"{fault['gateway_reconnects']} reconnect(s)"
            )
            if (back := fault.get("gateway_readers_back_after_s")) is not None:
                recovered += f", every reader connected again {back:.2f} s after its end"
            elif fault["gateway_readers_dropped"]:
                recovered += ", not every reader connected again before the next window"
        if (punches := fault.get("punches")) and any(punches[k] for k in ("lost", "cut_off", "unseen", "duplicated")):
            recovered += "; inserts from its start to the next window's: " + ", ".join(
                f"{punches[k]} {k.replace('_', ' ')}" for k in ("lost", "cut_off", "unseen", "duplicated") if punches[k]
            )
        if fault.get("first_room_message_after_s") is not None:
            recovered += (
                "; the first message sent after it that reached its room (another member, or an echo socket itself) "
                "was sent "
                f"{fault['first_room_message_after_s']:.2f} s after its end"
            )
        if fault.get("socket_closes"):
            codes = ", ".join(f"{n} x {code}" for code, n in sorted(fault["socket_closes"].items()))
            recovered += f"; sockets closed: {codes}, users joined again {fault.get('reconnects', 0)}"
        if fault.get("slowest_member_after_s") is not None and fault.get("members_checked"):
            recovered += (
                f"; the last of {fault['members_checked']} members to hear its room again heard a message sent "
                f"{fault['slowest_member_after_s']:.2f} s after its end"
            )
        if fault.get("sends_unavailable"):
            recovered += f"; {fault['sends_unavailable']:,} sends not made (the user's socket was closed)"
        if (messages := fault.get("room_messages")) and (
            messages["lost"] or messages["cut_off"] or messages.get("duplicated")
        ):
            recovered += (
                f"; of the deliveries owed for messages sent from 1 s before its start to as long before the next "
                "window's, "
                f"{messages['lost']:,} of {messages['owed']:,} lost, {messages['cut_off']:,} cut off by a close, "
                f"{messages.get('duplicated', 0):,} delivered twice or more"
            )
        if fault.get("silent_members"):
            listed = fault.get("silent_members_listed") or []
            more = fault["silent_members"] - len(listed)
            recovered += (
                f"; SILENT after it: {fault['silent_members']} of {fault.get('members_checked', 0)} members checked "
                f"received none of their room's messages sent since ({', '.join(listed)}"
                + (f" and {more} more)" if more > 0 else ")")
            )
        if fault.get("silent_kiosks"):
            recovered += (
                f"; SILENT after it: the kiosks of terminals {', '.join(map(str, fault['silent_kiosks']))} got none "
                "of their punches stored since"
            )
        out.append(
            f"{label}: fault {name} from {fault['start_s']:g} s for {fault['duration_s']:g} s: "
            f"{fault['deliveries_during']:,} deliveries in the seconds it touched; {recovered}"
        )
    if (soak := cell.get("soak")) is not None:
        growing = [s for s in (*soak["series"], *soak["latency"]) if s["flat"] is False]
        if growing:
            out += [f"{label}: soak: GROWING: {s['name']}: {s['reason']}" for s in growing]
        else:
            judged = sum(1 for s in (*soak["series"], *soak["latency"]) if s["flat"] is not None)
            out.append(
                f"{label}: soak: flat: {judged} series judged from {soak['early_window_s'][0]:g} s on, none grew "
                "beyond its allowance"
                if judged
                else f"{label}: soak: no series had enough samples to judge"
            )
    for restart in cell.get("restarts") or ():
        done = (
            f"restarted as pid {', '.join(map(str, restart['new_pids']))}"
            if restart["new_pids"]
            else (f"could not be restarted: {restart['error']}")
        )
        out.append(
            f"{label}: {restart['process']} pid {restart['old_pid']} exited on its own (code {restart['exit_code']}); "
            f"the harness's supervisor {done}"
        )
    if (audit := cell.get("punch_audit")) is not None:
        fields = {k: v for k, v in audit.items() if k != "exactly_once"}
        out.append(f"{label}: {PunchAudit(**fields).sentence()}")
    if cell.get("parameters", {}).get("drained") is False:
        out.append(f"{label}: the gateways still held unacknowledged punches when the drain ended: the audit is early")
    for reason in cell.get("generator_health", {}).get("ended_early") or ():
        out.append(f"{label}: PARTIAL: {reason}; the figures cover only the time before")
    if cell.get("parameters", {}).get("settled") is False:
        out.append(
            f"{label}: the app's frames without a token did not go quiet for a second within 120 s of the last "
            "connect, so the users sent while the app's own traffic (joins, welcomes, heartbeats) went on; give its "
            "periodic frames an [app].ignore rule, or set [app].settle = false"
        )
    failed = cell.get("generator_health", {}).get("request_failures") or []
    if failed:
        total = sum(int(f["count"]) for f in failed)
        out.append(
            f"{label}: {total:,} requests of the users failed (most frequent: {str(failed[0]['message'])[:300]}); "
            "a refused publish still counts as sent, so its messages' deliveries are lost"
        )
    out.extend(f"{label}: {sentence}" for sentence in receipt_sentences(cell))
    for storm in cell.get("join_storm_by_group_size", []):
        sentence = join_storm_sentence(storm)
        if sentence is not None:
            out.append(f"{label}: {sentence}")
    failures = {k: v for k, v in cell.get("connect_failures", {}).items() if v}
    if failures:
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(failures.items()))
        out.append(f"{label}: connection attempts failed ({kinds}); check the server log and the connect rate.")
    return out


def user_error_sentence(cell: Mapping[str, Any]) -> str | None:
    """The exceptions the generator's users raised, in a sentence; None when there were none."""
    errors = cell.get("generator_health", {}).get("user_errors") or []
    if not errors:
        return None
    total = sum(int(e["count"]) for e in errors)
    first = str(errors[0]["message"])
    return (
        f"the generator's users raised {total:,} exceptions and stopped (most frequent: {first[:300]}), so what they "
        "would have sent and received is missing and this cell's figures and verdicts are incomplete; the "
        "tracebacks are in the cell's locust_exceptions.csv and locust.log"
    )


def receipt_sentences(cell: Mapping[str, Any]) -> list[str]:
    """What was received but not counted as an expected delivery, each in a sentence with a remedy."""
    sentences = [sentence] if (sentence := foreign_sentence(cell)) is not None else []
    cut_off = int(cell.get("delivery", {}).get("cut_off", 0))
    if cut_off:
        sentences.append(
            f"{cut_off:,} deliveries were cut off: sent while their receiver's socket was still opening, or in the "
            "5 s before the receiver or the sender saw its socket close, they did not arrive; the users reconnect "
            "(load.reconnect), so these are counted apart, neither owed nor lost "
            "(docs/reliability.md#chat-rooms-under-faults)"
        )
    outside = int(cell.get("delivery", {}).get("outside_expected", 0))
    if outside:
        if cell.get("parameters", {}).get("kind") == "app":
            to = cell["parameters"].get("app", {}).get("fanout_to", "?")
            sentences.append(
                f"{outside:,} messages reached users the scenario did not expect them at ([app.fanout].to = {to}): "
                "the app sends each message to more users than that. They are timed with the others but counted "
                "outside the expected deliveries (owed to no one, so never lost); set to = room (everyone in the "
                "sender's room) or url (everyone on its URL) to match what the app does"
            )
        else:
            sentences.append(
                f"{outside:,} deliveries arrived outside what their streams expected (a receiver that is not a "
                "member of the sender's group, or a sequence number beyond what was sent): the server delivered "
                "messages where they were not sent"
            )
    return sentences


def foreign_sentence(cell: Mapping[str, Any]) -> str | None:
    """Why messages were received but not counted, in plain words with a remedy; None when every one was ours."""
    foreign = {reason: int(n) for reason, n in cell.get("foreign_messages", {}).items() if n}
    if not foreign:
        return None
    if cell.get("parameters", {}).get("kind") == "app":
        return _token_sentence(cell, foreign)
    total = sum(foreign.values())
    kinds = ", ".join(f"{reason} {n:,}" for reason, n in sorted(foreign.items()))
    return (
        f"{total:,} received messages were not the harness's envelopes ({kinds}), so they count as neither "
        "delivered nor timed: the server did not return the payload as sent (an app that rebuilds JSON with only the "
        "fields it knows drops the envelope). The echo and broadcast kinds need each message back with every key "
        "it was sent with: the envelope is the whole message."
    )


def _token_sentence(cell: Mapping[str, Any], foreign: Mapping[str, int]) -> str:
    """The app kind's frames that could not be counted, and what to do when none could."""
    plain = foreign.get("no_token", 0)
    received = int(cell.get("delivery", {}).get("received", 0))
    parts = []
    health = cell.get("generator_health", {})
    crashed = bool(health.get("user_errors") or health.get("request_failures"))
    if plain and not received and not crashed:
        parts.append(
            f"{plain:,} frames were received and none carried a token of this run, so no message could be "
            "correlated and every expected delivery counts as lost: the app does not relay the text that holds "
            "{token}. Put {token} in [app.send] where the app takes the text it sends on (e.g. json = { message = "
            '"{token}" } for an app that relays message), and look at what its frames contain with one socket by '
            "hand"
        )
    elif plain:
        parts.append(
            f"{plain:,} frames carried no token of this run (the app's own frames: welcomes, presence, state), "
            "counted as other, not as lost"
        )
    if foreign.get("unmatched_id"):
        parts.append(
            f"{foreign['unmatched_id']:,} pushes carried an id no sender's reply named ([app.correlate]): their "
            "messages could not be told, so they count as neither delivered nor lost"
        )
    if foreign.get("ignored"):
        parts.append(f"{foreign['ignored']:,} frames matched [app].ignore and were left out")
    if foreign.get("corrupt_token"):
        parts.append(
            f"{foreign['corrupt_token']:,} tokens arrived damaged (cut or changed by the app), so their messages "
            "could not be counted: the app shortens or rewrites the text it relays"
        )
    if foreign.get("other_run"):
        parts.append(
            f"{foreign['other_run']:,} tokens of another run were ignored (an app that keeps and re-sends what "
            "earlier runs sent)"
        )
    return "; ".join(parts) + "."


def presence_text(storm: Mapping[str, Any]) -> str:
    """A join storm's presence frames as ``received of min–max``: the range a room whose every member joined delivers
    (joins one after the other, all overlapping); ``of ≤max`` when a member failed, since only the maximum holds."""
    received, least, most = storm["presence_received"], storm["presence_expected_min"], storm["presence_expected_max"]
    if not storm["all_joined"]:
        return f"{received:,} of ≤{most:,}"
    return f"{received:,} of {least:,}" if least == most else f"{received:,} of {least:,}–{most:,}"


def join_storm_sentence(storm: Mapping[str, Any]) -> str | None:
    """What went wrong in a group size's join storm, with a remedy; None when nothing did.

    A storm that did not settle or left frames in the fan-out window, and a count outside the range every member's
    joining delivers (frames lost or duplicated), each get a sentence.
    """
    size, late = storm["group_size"], int(storm["presence_after_release"])
    received, least, most = storm["presence_received"], storm["presence_expected_min"], storm["presence_expected_max"]
    what = []
    if not storm["settled"]:
        what.append(
            f"the join storm of group size {size} did not settle before the barrier's time-out, so the members sent "
            f"while it may still have been going ({late:,} join presence frames were read in the fan-out window). "
            "Lower spawn_rate so that the server keeps up with the joins, or use smaller groups."
        )
    elif late:
        what.append(
            f"{late:,} join presence frames of group size {size} arrived after its members were let send: the storm "
            "paused for longer than the barrier's quiet period. Lower spawn_rate so that the server keeps up with "
            "the joins, or use smaller groups."
        )
    if storm["all_joined"] and received < least:
        what.append(
            f"group size {size}: {least - received:,} join presence frames were lost ({received:,} received, at least "
            f"{least:,} sent when every member joins): the server or its channel layer dropped them (the in-memory "
            "layer drops a message to a full channel without a word); check layer_pressure and the server log."
        )
    elif received > most:
        what.append(
            f"group size {size}: {received:,} join presence frames received, more than the {most:,} every member "
            "hearing every join would make: some were delivered twice."
        )
    return " ".join(what) or None
