// The queue page: the queued tickets in start order and each host's room, kept live.
import { liveFragment } from "./tickets_live.js";

const box = document.querySelector("[data-queue]");
if (box) {
  liveFragment(box, box.dataset.queueSrc, {
    wants: (ev) => ev.type === "ticket.updated" || ev.type?.startsWith("host."),
  });
}
