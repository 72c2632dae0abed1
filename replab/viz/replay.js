// The replay of one run on a canvas: replab.viz.replay writes an HTML output holding this code and
// replab.viz.replay_data()'s dict; the browser animates it (60 frames a second, no round trip to
// the kernel, no widget runtime: it plays wherever a notebook's HTML output is shown).
//
// Whole runs: node states step from timeline sample to sample; the traffic of each window is
// drawn as dots flowing along their cables, as many as the measured rate calls for.
// Short runs and zoomed windows (data.messages): each recorded message moves from its sending
// time to its receiving time, in slow motion.

const ROLE = ["#E69F00", "#0072B2", "#009E73"];  // leader, follower, server (replab.viz.style)
const DOWN = "#999999";
const KIND_COLOUR = {read: "#0072B2", write: "#CC79A7", reply: "#009E73", refused: "#E69F00", lost: "#D55E00",
                     replicate: "#7B3294", fetch: "#56B4E9", "stale reply": "#000000"};
const SPEEDS = [0.1, 0.25, 0.5, 1, 2, 4];
const DOT_PX_PER_S = 110;  // how fast a traffic dot crosses the screen

function fmt(n) { return Math.round(n).toLocaleString("en-US"); }

function lastAtOrBefore(times, t) {  // index of the last frame time <= t (0 if none)
  let lo = 0, hi = times.length - 1, found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
  }
  return found;
}

function polyline(points) {  // cumulative lengths, for moving a dot along a path
  const lengths = [0];
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1], [x1, y1] = points[i];
    lengths.push(lengths[i - 1] + Math.hypot(x1 - x0, y1 - y0));
  }
  return {points, lengths, total: lengths[lengths.length - 1]};
}

function along(path, share) {
  const at = Math.max(0, Math.min(1, share)) * path.total;
  for (let i = 1; i < path.points.length; i++) {
    if (at <= path.lengths[i] || i === path.points.length - 1) {
      const piece = path.lengths[i] - path.lengths[i - 1] || 1;
      const s = (at - path.lengths[i - 1]) / piece;
      const [x0, y0] = path.points[i - 1], [x1, y1] = path.points[i];
      return [x0 + (x1 - x0) * s, y0 + (y1 - y0) * s];
    }
  }
  return path.points[0];
}

function render(el, given, width, height, key) {
  el.classList.add("replab-replay");
  // where the reader left the slider survives the Lab drawing a new run (a new output each time)
  const memory = ((window.replabReplay = window.replabReplay || {})[key] = window.replabReplay[key] || {});
  const root = document.createElement("div");
  root.style.cssText = `width:${width}px;font:12px sans-serif;color:#333`;
  const title = document.createElement("div");
  title.style.cssText = "font-size:15px;margin:2px 0 2px 4px";
  const canvas = document.createElement("canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio; canvas.height = height * ratio;
  canvas.style.cssText = `width:${width}px;height:${height}px;display:block`;
  const ctx = canvas.getContext("2d");
  const bar = document.createElement("div");
  bar.style.cssText = "display:flex;align-items:center;gap:6px;margin:2px 4px";
  const play = document.createElement("button");
  play.style.cssText = "width:64px";
  const slider = document.createElement("input");
  slider.type = "range"; slider.min = 0; slider.step = "any"; slider.style.flex = "1";
  const speed = document.createElement("select");
  const clock = document.createElement("span");
  clock.style.cssText = "min-width:92px;text-align:right;font-variant-numeric:tabular-nums";
  bar.append(play, slider, clock, speed);
  root.append(title, canvas, bar);
  el.appendChild(root);

  let data = null, t = 0, playing = false, last = null, rate = 1, frameCount = 0, hosts = [], paths = {};
  let running = true, dirty = true;  // paused, the canvas is drawn again only when something changed
  let pending = false;  // a frame is asked for
  let touched = !!memory.touched;  // the reader moved the slider or pressed play
  let wasConnected = false;
  let view = null;  // drawing units -> canvas pixels

  function setup() {
    data = given || {};
    if (!data.times || !data.times.length) { data = null; title.textContent = "Replay: no run yet"; return; }
    const slow = data.messages && data.messages.length;
    const [lo, hi] = slow ? data.messages_ms : [0, data.duration_ms];
    slider.min = lo; slider.max = hi;
    // start at the moment worth seeing (the read-only window, the stale answer, ...) unless the
    // reader has already moved the slider; a run still going has frames only up to its present
    const latest = slow ? hi : data.times[data.times.length - 1];
    const kept = memory.t !== undefined ? memory.t : t;
    t = touched ? Math.min(Math.max(kept, lo), latest) : Math.min(Math.max(data.moment_ms, lo), latest);
    // one "1x": a whole run in about 15 s of real time; message by message, a typical message
    // takes about a second to cross (and stretches where nothing is in flight go by 20x faster)
    if (slow) {
      const flights = data.messages.map((m) => m[5] - m[4]).sort((a, b) => a - b);
      rate = Math.max(flights[flights.length >> 1], 1e-3) / 1.0;
    } else {
      rate = (hi - lo) / 15;
    }
    speed.innerHTML = "";
    for (const s of SPEEDS) {
      const option = document.createElement("option");
      option.value = s; option.textContent = s === 1 ? "speed 1x" : `${s}x`;
      if (s === 1) option.selected = true;
      speed.appendChild(option);
    }
    title.textContent = slow ? `Replay, message by message (${fmt(lo)}-${fmt(hi)} ms, slowed down)`
                             : `Replay of the run (${fmt(data.duration_ms)} ms): traffic, roles, queues, lag`;
    const d = data.drawing;
    const position = (name) => d.nodes[name] || d.hosts[name] || d.switches[name];
    hosts = data.hosts.map(position);
    const [[x0, x1], [y0, y1]] = d.bounds;
    const top = 18, bottom = 60;  // room for the events and the legend under the drawing
    const sx = width / (x1 - x0), sy = (height - top - bottom) / (y1 - y0);
    view = {px: (x) => (x - x0) * sx, py: (y) => top + (y1 - y) * sy, sx, sy};
    paths = {};
  }

  function pathOf(src, via, dst, down) {
    const key = `${src}/${via}/${dst}/${down ? [...down].join() : ""}`;
    if (!paths[key]) {
      const routes = data.drawing.routes;  // across DCs: along the WAN link
      const attach = data.drawing.attach;  // several switches: through each end's first live switch
      const hop = (h) => {
        const options = attach[data.hosts[h]] || [];
        return options.find((s) => !down.has(s)) || options[0];
      };
      const leg = (a, b) => {
        if (routes[`${a}/${b}`]) return routes[`${a}/${b}`];
        const sa = attach && hop(a), sb = attach && hop(b);
        if (!sa || !sb) return [hosts[a], hosts[b]];
        const by = data.drawing.switches;
        return sa === sb ? [hosts[a], by[sa], hosts[b]] : [hosts[a], by[sa], by[sb], hosts[b]];
      };
      const points = via >= 0 ? [...leg(src, via), ...leg(via, dst).slice(1)] : leg(src, dst);
      paths[key] = polyline(points.map(([x, y]) => [view.px(x), view.py(y)]));
    }
    return paths[key];
  }

  function line(points, colour, widthPx, dash) {
    ctx.beginPath();
    points.forEach(([x, y], i) => (i ? ctx.lineTo(view.px(x), view.py(y)) : ctx.moveTo(view.px(x), view.py(y))));
    ctx.strokeStyle = colour; ctx.lineWidth = widthPx; ctx.setLineDash(dash || []); ctx.stroke(); ctx.setLineDash([]);
  }

  function text(str, x, y, align, colour, size, baseline) {
    ctx.font = `${size || 10}px sans-serif`; ctx.fillStyle = colour || "#333";
    ctx.textAlign = align || "center"; ctx.textBaseline = baseline || "middle";
    ctx.fillText(str, x, y);
  }

  function arrow(ax, ay, bx, by, colour, dashed, bow) {
    const dx = bx - ax, dy = by - ay, length = Math.hypot(dx, dy) || 1, cut = 15 / length;
    const sx = ax + dx * cut, sy = ay + dy * cut, ex = bx - dx * cut, ey = by - dy * cut;
    ctx.beginPath(); ctx.moveTo(sx, sy);
    let angle = Math.atan2(ey - sy, ex - sx);
    if (bow) {  // an arc under a row of nodes
      const cx = (sx + ex) / 2, cy = Math.max(sy, ey) + bow;
      ctx.quadraticCurveTo(cx, cy, ex, ey); angle = Math.atan2(ey - cy, ex - cx);
    } else { ctx.lineTo(ex, ey); }
    ctx.strokeStyle = colour; ctx.lineWidth = 1.6; ctx.setLineDash(dashed ? [3, 3] : []); ctx.stroke(); ctx.setLineDash([]);
    ctx.beginPath(); ctx.moveTo(ex, ey);
    ctx.lineTo(ex - 7 * Math.cos(angle - 0.4), ey - 7 * Math.sin(angle - 0.4));
    ctx.lineTo(ex - 7 * Math.cos(angle + 0.4), ey - 7 * Math.sin(angle + 0.4));
    ctx.closePath(); ctx.fillStyle = colour; ctx.fill();
  }

  function draw(now) {
    if (!data) { ctx.setTransform(ratio, 0, 0, ratio, 0, 0); ctx.clearRect(0, 0, width, height); return; }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const d = data.drawing, f = lastAtOrBefore(data.times, t);
    const down = new Set(data.down[f]), dnsDown = new Set(data.dns_down[f]);
    // DC boxes, WAN links, cables
    for (const [name, bx0, by0, bx1, by1] of d.boxes) {
      const x = view.px(bx0), y = view.py(by1), w = view.px(bx1) - x, h = view.py(by0) - y;
      ctx.fillStyle = down.has(name) ? "#FBE3D6" : "#F4F4F4"; ctx.fillRect(x, y, w, h);
      ctx.strokeStyle = down.has(name) ? "#D55E00" : "#999"; ctx.setLineDash(down.has(name) ? [4, 3] : []);
      ctx.lineWidth = 1.2; ctx.strokeRect(x, y, w, h); ctx.setLineDash([]);
      text(name + (down.has(name) ? " DOWN" : dnsDown.has(name) ? " (DNS: down)" : ""), x + 2, y - 7, "left", "#333", 11);
    }
    for (const link of d.wan) {
      const cut = link.dcs.some((n) => down.has(n));
      line(link.points, cut ? "#D55E00" : "#999", cut ? 2 : 3, cut ? [4, 3] : null);
      const [lx, ly] = link.label;
      ctx.fillStyle = "white"; ctx.fillRect(view.px(lx) - 16, view.py(ly) - 7, 32, 14);
      text(`${link.ms} ms`, view.px(lx), view.py(ly), "center", "#555", 10);
    }
    for (const cable of d.cables) {
      const dead = cable.switches.some((s) => down.has(s));
      line(cable.points, dead ? "#D55E00" : cable.kind === "pair" ? "#888" : "#CCC", cable.kind === "pair" ? 4 : 1,
           dead || cable.kind === "second" ? [3, 3] : null);
    }
    // where each region's operations went (the DNS's answers as used)
    if (data.dns_share) {
      data.dns_share[f].forEach((shares, region) => shares.forEach((share, dc) => {
        if (share > 0.02) {
          const [ax, ay] = d.hosts[`region${region}`], [bx, by] = d.hosts[`dc${dc} balancer`];
          ctx.globalAlpha = 0.25; line([[ax, ay], [bx, by]], "#0072B2", 2 + 10 * share); ctx.globalAlpha = 1;
        }
      }));
    }
    // replication streams of this frame
    const up = data.up[f], role = data.role[f];
    for (const [a, b] of data.edges[f]) {
      const [ax, ay] = d.nodes[data.nodes[a]], [bx, by] = d.nodes[data.nodes[b]];
      const live = up[a] && up[b];
      arrow(view.px(ax), view.py(ay), view.px(bx), view.py(by), live ? "#0072B2" : "#CCCCCC", !live,
            d.kind === "network" ? 30 + 8 * Math.abs(bx - ax) : 0);
    }
    // traffic: whole runs as dots flowing at the measured rate; short windows message by message
    const slow = data.messages && data.messages.length;
    if (slow) {
      for (const [kind, src, via, dst, sent, received, what] of data.messages) {
        if (sent <= t && t <= received) {
          const [x, y] = along(pathOf(src, via, dst, down), (t - sent) / Math.max(received - sent, 1e-9));
          ctx.beginPath(); ctx.arc(x, y, 4.5, 0, 2 * Math.PI);
          ctx.fillStyle = KIND_COLOUR[data.message_kinds[kind]]; ctx.fill();
          text(what, x + 7, y - 7, "left", KIND_COLOUR[data.message_kinds[kind]], 10);
        }
      }
    } else {
      const flows = data.flows[f], busiest = Math.max(1, ...flows.map((x) => x[4]));
      for (const [kind, src, via, dst, perSecond] of flows) {
        const path = pathOf(src, via, dst, down), dots = Math.max(1, Math.round(8 * perSecond / busiest));
        const phase = ((now / 1000) * DOT_PX_PER_S / Math.max(path.total, 1)) % 1;
        ctx.fillStyle = KIND_COLOUR[data.message_kinds[kind]];
        for (let i = 0; i < dots; i++) {
          const [x, y] = along(path, (phase + i / dots) % 1);
          ctx.beginPath(); ctx.arc(x, y, 2.6, 0, 2 * Math.PI); ctx.fill();
        }
      }
    }
    // switches, clients, balancers
    for (const [name, [x, y]] of Object.entries(d.switches)) {
      ctx.fillStyle = down.has(name) ? "#D55E00" : "#999";
      ctx.fillRect(view.px(x) - 7, view.py(y) - 7, 14, 14);
      text(name + (down.has(name) ? " DOWN" : ""), view.px(x) + (name.endsWith("0") ? -10 : 10), view.py(y) - 12,
           name.endsWith("0") ? "right" : "left", "#333", 10);
    }
    for (const [name, [x, y]] of Object.entries(d.hosts)) {
      const px = view.px(x), py = view.py(y);
      if (name === "clients" || name.startsWith("region")) {
        ctx.beginPath(); ctx.arc(px, py, 7, 0, 2 * Math.PI); ctx.strokeStyle = "#666"; ctx.lineWidth = 1.2; ctx.stroke();
        text(name === "clients" ? "clients" : name.replace("region", "region "), px, py - 13, "center", "#333", 10);
      } else {
        ctx.beginPath(); ctx.moveTo(px, py - 8); ctx.lineTo(px + 8, py); ctx.lineTo(px, py + 8); ctx.lineTo(px - 8, py);
        ctx.closePath(); ctx.fillStyle = "#666"; ctx.fill();
        if (name === "balancer") {
          text("load balancer", px, py + 16, "center", "#333", 10);
          if (data.read_only[f]) {
            ctx.fillStyle = "#E69F00"; ctx.fillRect(px + 12, py - 7, 80, 15);
            text("READ-ONLY", px + 52, py + 1, "center", "white", 10);
          }
        }
      }
    }
    // nodes: role colour, a cross when down, the queue as a bar, the applied position under the name
    const lagWrites = data.lag_writes[f], queue = data.queue[f], applied = data.applied[f];
    data.nodes.forEach((name, i) => {
      const [x, y] = d.nodes[name], px = view.px(x), py = view.py(y);
      ctx.beginPath(); ctx.arc(px, py, 11, 0, 2 * Math.PI);
      ctx.fillStyle = up[i] ? ROLE[role[i]] : DOWN; ctx.fill();
      ctx.strokeStyle = "#333"; ctx.lineWidth = 1; ctx.stroke();
      if (!up[i]) {
        ctx.beginPath(); ctx.moveTo(px - 7, py - 7); ctx.lineTo(px + 7, py + 7); ctx.moveTo(px + 7, py - 7);
        ctx.lineTo(px - 7, py + 7); ctx.strokeStyle = "white"; ctx.lineWidth = 2.5; ctx.stroke();
      }
      const q = Math.min(queue[i], 30);
      if (q > 0) {
        ctx.fillStyle = "#D55E00"; ctx.fillRect(px + 13, py + 10 - q, 4, q);
      }
      const side = (d.text_position[name] || "bottom center").split(" ");
      const dy = side[0] === "top" ? -18 : side[0] === "middle" ? -5 : 18;
      const dx = side[1] === "right" ? 15 : side[1] === "left" ? -15 : 0;
      const align = side[1] === "right" ? "left" : side[1] === "left" ? "right" : "center";
      text(up[i] || d.kind === "datacentres" ? name : `${name} DOWN`, px + dx, py + dy, align, up[i] ? "#222" : "#B00020", 10);
      const behind = lagWrites[i];
      const position = role[i] === 0 ? `log ${fmt(applied[i])}` : d.kind === "datacentres" ?  // narrow boxes: the gap only
        (behind ? `−${fmt(behind)}` : "") : `${fmt(applied[i])}` + (behind ? ` (−${fmt(behind)})` : "");
      text(position, px + dx, py + dy + 11, align, behind > 50 ? "#D55E00" : "#666", 9);
    });
    // what the node colours mean, top left
    let rx = 6;
    for (const [i, roleName] of ["leader", "follower", "server"].entries()) {
      if (!role.some((r, k) => r === i && up[k])) continue;
      ctx.beginPath(); ctx.arc(rx + 4, 9, 4, 0, 2 * Math.PI); ctx.fillStyle = ROLE[i]; ctx.fill();
      text(roleName, rx + 11, 9, "left", "#333", 10);
      ctx.font = "10px sans-serif"; rx += ctx.measureText(roleName).width + 24;
    }
    // the latest events, and what moved
    const recent = data.events.filter((e) => e[0] <= t).slice(-2);
    recent.forEach(([at, kind, target, detail], k) => {
      text(`${at.toLocaleString("en-US")} ms  ${kind} ${target}${detail ? ` (${detail})` : ""}`.slice(0, 96), 6,
           height - 53 + 13 * k, "left", k === recent.length - 1 ? "#B00020" : "#666", 10);
    });
    if (data.moves) text(`sessions moved to another DC: ${fmt(data.moves[f])}`, width - 6, 9, "right", "#333", 10);
    let lx = width - 6, ly = height - 8;  // what the dots' colours mean, right-aligned on the last lines
    for (const kind of [...new Set((slow ? data.messages.map((m) => m[0]) : data.flows.flat().map((x) => x[0])))]
      .sort((a, b) => b - a)) {
      const name = data.message_kinds[kind];
      ctx.font = "10px sans-serif";
      const w = ctx.measureText(name).width;
      if (lx - w - 12 < 6) { lx = width - 6; ly -= 13; }
      text(name, lx, ly, "right", "#333", 10);
      ctx.beginPath(); ctx.arc(lx - w - 6, ly, 3.5, 0, 2 * Math.PI); ctx.fillStyle = KIND_COLOUR[name]; ctx.fill();
      lx -= w + 18;
    }
    clock.textContent = `t = ${t.toFixed(slow ? 2 : 0)} ms`;
    slider.value = t;
    canvas.dataset.frames = String(++frameCount);
    canvas.dataset.t = String(t);
  }

  // Frames are asked for only while playing or after a change. A paused replay that asked for
  // every frame drew nothing, yet kept the browser producing 60 frames a second: a tab with one
  // replay in it used a quarter of a core for as long as the chapter stayed open
  // (benchmarks/LAB_RESULTS.md, "The replay").
  function wake() {
    if (!pending && running) { pending = true; requestAnimationFrame(tick); }
  }

  function tick(now) {
    pending = false;
    if (playing && data && last !== null) {
      const idle = data.messages && data.messages.length && !data.messages.some((m) => m[4] <= t + rate && m[5] >= t);
      t += ((now - last) / 1000) * rate * Number(speed.value || 1) * (idle ? 20 : 1);
      if (t >= Number(slider.max)) { t = Number(slider.max); setPlaying(false); }
    }
    last = playing ? now : null;  // play pressed after a pause starts from here, not from the last frame
    if (playing || dirty) { draw(now); dirty = false; memory.t = t; memory.touched = touched; }
    wasConnected = wasConnected || el.isConnected;
    if (wasConnected && !el.isConnected) running = false;  // a newer drawing replaced this one
    if (playing) wake();
  }

  function setPlaying(on) {
    playing = on; play.textContent = on ? "❚❚ pause" : "▶ play";
    if (on && t >= Number(slider.max)) t = Number(slider.min);
  }

  // the first view is a poster (the moment worth seeing); play tells the story from its start
  play.onclick = () => { if (!touched) t = Number(slider.min); touched = true; setPlaying(!playing); dirty = true; wake(); };
  slider.oninput = () => { touched = true; t = Number(slider.value); dirty = true; wake(); };
  speed.onchange = () => { dirty = true; wake(); };
  setup();
  setPlaying(false);
  wake();
}
