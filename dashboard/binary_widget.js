// Binary mode in the browser (see dashboard/binary_widget.py): the queue of questions lives
// here, so a key shows the next question at once; answers are posted to the dashboard's own
// route one at a time, in the order given, and more questions are read before the queue runs
// out. Every text from the server is written with textContent, never as HTML.

const TOP_UP_AT = 5; // fewer questions queued than this: read more
const RETRY_READ_MS = 5000;
const PRELOAD = 3; // thumbnails of the next questions fetched ahead
const KEYS = { a: "yes", x: "no", n: "skip" };
const PREVIEW_KEY = "p";
// batch id -> state: a Streamlit rerun resumes, it does not restart (kept on window: the
// module may be evaluated again when the card is mounted again)
const sessions = (window.__taggerBinarySessions ??= new Map());
const PASSED_KEY = "tagger-binary-passed"; // this tab's skipped videos, kept across reloads
const PASSED_KEPT = 1000; // the newest ones; their ids travel in each read's URL

const storedPassed = () => {
  try {
    const ids = JSON.parse(sessionStorage.getItem(PASSED_KEY) || "[]");
    return Array.isArray(ids) ? ids.filter(Number.isInteger) : [];
  } catch {
    return [];
  }
};

const pass = (state, videoId) => {
  state.passed.add(videoId);
  try {
    sessionStorage.setItem(PASSED_KEY, JSON.stringify([...state.passed].slice(-PASSED_KEPT)));
  } catch {
    // storage full or disabled: skips are then remembered until the page is reloaded
  }
};

const newState = (data) => ({
  data,
  queue: [], // questions; the first one is on screen
  sending: [], // answers not yet written, in the order given: {question, body}
  posting: false,
  reading: false,
  exhausted: false, // the last read found no new question
  passed: new Set(storedPassed()), // skipped or refused videos: released, not asked again
  answered: 0,
  notices: [],
  stopped: null, // why no more answers can be taken (the session ended)
  preview: null, // {videoId, video}: the muted preview playing over the question
  root: null,
});

function stopPreview(state) {
  if (!state.preview) return;
  const { video } = state.preview;
  state.preview = null;
  video.pause();
  video.removeAttribute("src");
  video.load(); // aborts the range request in flight
  video.remove();
}

// a muted loop of the question's video, preview.seconds long from preview.start (moved back
// when the file is shorter than recorded); only the ranges played are fetched
function togglePreview(state) {
  const question = state.queue[0];
  if (!question || !question.preview) return;
  if (state.preview && state.preview.videoId === question.video_id) {
    stopPreview(state);
    render(state);
    return;
  }
  stopPreview(state);
  const { src, start, seconds } = question.preview;
  const video = el("video", { class: "preview-video", preload: "none" });
  video.muted = true;
  video.playsInline = true;
  let from = start;
  video.addEventListener("loadedmetadata", () => {
    const last = Number.isFinite(video.duration) ? video.duration - seconds : start;
    from = Math.max(0, Math.min(start, last));
    video.currentTime = from;
  });
  video.addEventListener("timeupdate", () => {
    if (video.currentTime >= from + seconds) video.currentTime = from;
  });
  video.addEventListener("ended", () => {
    video.currentTime = from;
    video.play().catch(() => {});
  });
  video.src = src;
  state.preview = { videoId: question.video_id, video };
  render(state);
  video.play().catch(() => {});
}

const el = (tag, props = {}, children = []) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
};

const notify = (state, text) => {
  state.notices = [...state.notices.slice(-2), text];
};

const detailOf = async (response) => {
  try {
    const body = await response.json();
    return body && typeof body === "object" ? body : {};
  } catch {
    return {};
  }
};

function render(state) {
  const root = state.root;
  if (!root) return;
  const parts = state.notices.map((text) => el("p", { class: "notice", role: "status", text }));
  const question = state.queue[0];
  if (state.preview && (!question || state.preview.videoId !== question.video_id)) {
    stopPreview(state);
  }
  if (state.stopped) {
    parts.push(el("p", { class: "stopped", role: "alert", text: state.stopped }));
  } else if (!question) {
    if (state.reading) {
      parts.push(el("p", { class: "caption", text: "Reading questions…" }));
    } else {
      parts.push(el("p", { text: "No unreviewed predicted video is left to ask about." }));
      parts.push(el("button", { type: "button", "data-action": "again", text: "Look again" }));
    }
  } else {
    const more = state.queue.length - 1;
    parts.push(el("h3", { text: `Is this video ${question.tag}?` }));
    parts.push(
      el("p", {
        class: "caption question-id",
        dataset: { videoId: String(question.video_id), nodeId: question.node_id },
        text:
          `#${question.video_id} · model ${question.probability.toFixed(2)} ` +
          `(threshold ≈ ${question.threshold.toFixed(2)}) · ${more} more loaded`,
      })
    );
    parts.push(el("p", {}, [el("strong", { text: question.title })]));
    if (state.preview) parts.push(el("div", { class: "preview" }, [state.preview.video]));
    if (question.thumbnails.length) {
      parts.push(
        el(
          "div",
          { class: "thumbnails" },
          question.thumbnails.map((src) => el("img", { src, alt: "keyframe" }))
        )
      );
    }
    parts.push(el("p", { class: "description", text: question.description || "(no description)" }));
    parts.push(
      el("p", {
        class: "caption",
        text: question.others.length
          ? `Saved with: ${question.others.join(", ")}`
          : "No other tags.",
      })
    );
    parts.push(
      el("div", { class: "answers" }, [
        el("button", { type: "button", class: "primary", "data-answer": "yes", text: "Yes (A)" }),
        el("button", { type: "button", "data-answer": "no", text: "No (X)" }),
        el("button", { type: "button", "data-answer": "skip", text: "Skip (N)" }),
      ])
    );
    if (question.preview) {
      const playing = state.preview !== null;
      parts.push(
        el("button", {
          type: "button",
          class: "preview-toggle",
          "data-action": "preview",
          text: playing ? "Stop preview (P)" : "Preview (P)",
        })
      );
    }
  }
  const waiting = state.sending.length;
  parts.push(
    el("p", {
      class: "caption progress",
      text: `${state.answered} answer(s) saved` + (waiting ? ` · ${waiting} being saved` : ""),
    })
  );
  root.replaceChildren(...parts);
  for (const next of state.queue.slice(1, 1 + PRELOAD)) {
    for (const src of next.thumbnails) new Image().src = src;
  }
}

function answer(state, kind) {
  if (state.stopped || !state.queue.length) return;
  const question = state.queue.shift();
  if (kind === "skip") pass(state, question.video_id);
  state.sending.push({
    question,
    body: {
      video_id: question.video_id,
      version: question.version,
      answer: kind,
      node_ids: kind === "skip" ? null : question[kind],
      then_claim: state.queue.length ? state.queue[0].video_id : null,
    },
  });
  render(state);
  post(state);
  topUp(state);
}

// the video asked about next was taken by someone else meanwhile: do not ask it
function dropTaken(state, sent, claimed) {
  const next = sent.body.then_claim;
  if (next === null || claimed !== false) return;
  if (state.queue.length && state.queue[0].video_id === next) {
    state.queue.shift();
    pass(state, next);
    notify(state, `Video #${next} was taken by another moderator meanwhile; it is not asked.`);
  }
}

// the tab is closing: answers not yet sent go now, with keepalive (one already in flight was
// sent with it too); a duplicate of a written answer is refused by its version, harmlessly
function sendOnExit() {
  for (const state of sessions.values()) {
    for (const sent of state.sending.slice(state.posting ? 1 : 0)) {
      fetch(state.data.answers_url, {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(sent.body),
      }).catch(() => {});
    }
  }
}
if (!window.__taggerBinaryExit) {
  window.__taggerBinaryExit = true;
  window.addEventListener("pagehide", sendOnExit);
}

async function post(state) {
  if (state.posting || state.stopped || !state.sending.length) return;
  state.posting = true;
  const sent = state.sending[0];
  let status = 0;
  let body = {};
  try {
    const response = await fetch(state.data.answers_url, {
      method: "POST",
      keepalive: true, // finishes even if the tab closes meanwhile
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(sent.body),
    });
    status = response.status;
    body = await detailOf(response);
  } catch (error) {
    body = { detail: String(error) };
  }
  state.posting = false;
  const id = sent.body.video_id;
  if (status === 401 || status === 403) {
    state.stopped =
      `${body.detail || "Your session has ended"}. ` +
      `${state.sending.length} answer(s) were not saved: sign in again and reload the page.`;
    render(state);
    return;
  }
  state.sending.shift();
  if (status === 200) {
    if (body.saved) state.answered += 1;
    dropTaken(state, sent, body.claimed);
  } else if (status === 409 || status === 422) {
    pass(state, id);
    notify(state, `Not saved: ${body.detail || "refused"} (video #${id}).`);
    dropTaken(state, sent, body.claimed);
  } else {
    // nothing was written (busy database, network): ask it again, first
    state.queue.unshift(sent.question);
    notify(
      state,
      `Your answer on video #${id} was not saved (${body.detail || `HTTP ${status}`}); ` +
        "it is asked again."
    );
  }
  render(state);
  post(state);
  topUp(state);
}

async function topUp(state) {
  if (state.reading || state.stopped || state.queue.length >= TOP_UP_AT) return;
  if (state.exhausted && state.queue.length) return;
  state.reading = true;
  const claimFirst = state.queue.length === 0;
  const exclude = [
    ...[...state.passed].slice(-PASSED_KEPT),
    ...state.queue.map((q) => q.video_id),
    ...state.sending.map((s) => s.body.video_id),
  ];
  const params = new URLSearchParams({
    exclude: exclude.join(","),
    claim_first: claimFirst ? "1" : "0",
  });
  if (state.data.scope) params.set("scope", state.data.scope);
  let status = 0;
  let body = {};
  try {
    const response = await fetch(`${state.data.questions_url}?${params}`, {
      credentials: "same-origin",
    });
    status = response.status;
    body = await detailOf(response);
  } catch (error) {
    body = { detail: String(error) };
  }
  state.reading = false;
  if (status === 200 && Array.isArray(body)) {
    const have = new Set(exclude);
    const fresh = body.filter((q) => !have.has(q.video_id));
    state.queue.push(...fresh);
    state.exhausted = fresh.length === 0;
  } else if (status === 401 || status === 403) {
    state.stopped = `${body.detail || "Your session has ended"}: sign in again and reload the page.`;
  } else {
    notify(state, `Could not read more questions (${body.detail || `HTTP ${status}`}); retrying.`);
    setTimeout(() => topUp(state), RETRY_READ_MS);
  }
  render(state);
}

const typing = (target) => {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  if (target.tagName === "INPUT") return !["checkbox", "radio"].includes(target.type);
  return ["TEXTAREA", "SELECT"].includes(target.tagName);
};

export default function (component) {
  const { data, parentElement } = component;
  let state = sessions.get(data.batch);
  if (!state) {
    state = newState(data);
    sessions.set(data.batch, state);
  }
  const root = parentElement.querySelector(".tagger-binary");
  state.root = root;
  render(state);
  if (!state.queue.length && !state.exhausted) topUp(state);

  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (typing(event.composedPath()[0])) return;
    const key = event.key.toLowerCase();
    if (!root.isConnected || !(key in KEYS || key === PREVIEW_KEY)) return;
    event.preventDefault();
    if (key === PREVIEW_KEY) togglePreview(state);
    else answer(state, KEYS[key]);
  };
  const onClick = (event) => {
    const button = event.target instanceof Element ? event.target.closest("button") : null;
    if (!button) return;
    if (button.dataset.answer) answer(state, button.dataset.answer);
    if (button.dataset.action === "preview") togglePreview(state);
    if (button.dataset.action === "again") {
      state.exhausted = false;
      topUp(state);
    }
  };
  document.addEventListener("keydown", onKey, true);
  root.addEventListener("click", onClick);
  return () => {
    stopPreview(state);
    document.removeEventListener("keydown", onKey, true);
    root.removeEventListener("click", onClick);
    if (state.root === root) state.root = null;
  };
}
