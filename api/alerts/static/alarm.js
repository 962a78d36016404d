// The alarm: while an SOS or fall is open (not yet acknowledged) a sound repeats, the tab
// title flashes, and each new one raises a browser notification where the browser allows.
// Other priorities are silent. Browsers play sound only after a user gesture on the page:
// logging in is one; if playing is refused all the same, a button asks for a click.
"use strict";

import { t } from "./i18n.js";

const URGENT_RULES = new Set(["sos", "fall"]);
const FLASH_MS = 800;

export class Alarm {
  constructor(audio, enableButton) {
    this.audio = audio;
    this.enableButton = enableButton;
    this.known = new Set(); // urgent alerts already announced
    this.flasher = null;
    this.title = document.title;
    enableButton.addEventListener("click", () => this.start());
  }

  /** Ask, once, for notifications (call from a click, such as the login). */
  static askForNotifications() {
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
  }

  /** Re-evaluate against the alerts now shown: sound on while any urgent one is open. */
  update(alerts, describe) {
    const urgent = alerts.filter((a) => a.status === "open" && URGENT_RULES.has(a.rule));
    for (const alert of urgent) {
      if (!this.known.has(alert.alert_id)) {
        this.known.add(alert.alert_id);
        this.notify(describe(alert));
      }
    }
    if (urgent.length) {
      this.flashText = t("console.alarm.title", { count: urgent.length });
      this.start();
    } else {
      this.stop();
    }
  }

  start() {
    document.body.dataset.alarm = "on";
    if (!this.flasher) {
      this.title = document.title.startsWith("【") ? this.title : document.title;
      let on = false;
      this.flasher = setInterval(() => {
        on = !on;
        document.title = on ? this.flashText : this.title;
      }, FLASH_MS);
    }
    if (this.audio.paused) {
      this.audio.play().then(() => {
        this.enableButton.hidden = true;
      }).catch(() => {
        this.enableButton.hidden = false; // the browser wants a click first
      });
    }
  }

  stop() {
    delete document.body.dataset.alarm;
    if (this.flasher) clearInterval(this.flasher);
    this.flasher = null;
    document.title = this.title;
    this.audio.pause();
    this.audio.currentTime = 0;
    this.enableButton.hidden = true;
  }

  notify(body) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      new Notification(t("console.alarm.notification"), { body, tag: "eldercare-urgent", renotify: true });
    } catch (_) { /* some browsers allow notifications only from a service worker */ }
  }
}
