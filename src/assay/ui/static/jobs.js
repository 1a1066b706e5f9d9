// The job page's live log: asks /jobs/<id>/log for what arrived since the offset it has reached, once a
// second while the attempt runs (at once when more is waiting), and follows a retry into its new attempt.

const POLL_MS = 1000;

export async function followLog(pre) {
  const job = pre.dataset.job;
  const status = document.getElementById("log-status");
  const badge = document.getElementById("job-state");
  let attempt = null;
  let offset = 0;
  for (;;) {
    const query = new URLSearchParams({ offset: String(offset) });
    if (attempt !== null) query.set("attempt", String(attempt));
    let answer;
    try {
      const r = await fetch(`/jobs/${encodeURIComponent(job)}/log?${query}`, { headers: { Accept: "application/json" } });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      answer = await r.json();
    } catch (err) {
      status.textContent = `(log unavailable: ${err.message}; retrying)`;
      await new Promise((done) => setTimeout(done, 3 * POLL_MS));
      continue;
    }
    if (answer.attempt && attempt === null) attempt = answer.attempt;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    if (answer.text) pre.append(answer.text);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
    offset = answer.next_offset;
    if (badge && badge.textContent !== answer.state.toLowerCase()) {
      badge.textContent = answer.state.toLowerCase();
      badge.className = `badge ${answer.state}`;
    }
    if (answer.complete && answer.current > attempt) {
      pre.append(`${pre.textContent ? "\n" : ""}--- attempt ${answer.current} ---\n`);
      attempt = answer.current;
      offset = 0;
      continue;
    }
    if (answer.complete && ["SUCCEEDED", "FAILED", "CANCELLED"].includes(answer.state)) {
      status.textContent = pre.textContent ? "" : "(no output)";
      pre.dataset.complete = "1";
      return;
    }
    if (answer.complete) {  // the attempt ended and the job waits for its retry
      status.textContent = "(waiting for the next attempt)";
      await new Promise((done) => setTimeout(done, POLL_MS));
      continue;
    }
    status.textContent = answer.attempt ? `(attempt ${answer.attempt}, following)` : "(waiting for a worker)";
    if (!answer.more) await new Promise((done) => setTimeout(done, POLL_MS));
  }
}
