// Small SVG charts drawn from API figures: no library, nothing fetched from elsewhere.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Columns per day for one or more series ({label, cls, values: Map(day -> n)}), over the
 * given days (YYYY-MM-DD, ascending), with a value axis and every few day labels.
 */
export function dayColumns(days, series, { height = 220 } = {}) {
  const width = Math.max(1100, days.length * 22 + 60);
  const top = 12, bottom = 34, left = 40, right = 10;
  const plotH = height - top - bottom;
  const highest = Math.max(1, ...series.flatMap((s) => days.map((d) => s.values.get(d) || 0)));
  const tick = Math.ceil(highest / 4);
  const max = tick * 4;
  const step = (width - left - right) / Math.max(1, days.length);
  const bar = Math.max(2, (step - 4) / series.length);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img' });
  for (let i = 0; i <= 4; i += 1) {
    const value = tick * i;
    const y = top + plotH - (plotH * i) / 4;
    root.append(svg('line', { x1: left, x2: width - right, y1: y, y2: y, class: 'grid' }));
    root.append(svg('text', { x: left - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, value));
  }
  const every = Math.ceil(days.length / 12);
  days.forEach((day, i) => {
    series.forEach((s, k) => {
      const n = s.values.get(day) || 0;
      const h = (plotH * n) / max;
      const rect = svg('rect', { x: left + i * step + 2 + k * bar, y: top + plotH - h, width: bar - 1, height: h, class: s.cls });
      rect.append(svg('title', {}, `${day} ${s.label}: ${n}`));
      root.append(rect);
    });
    if (i % every === 0) {
      root.append(svg('text', { x: left + i * step + step / 2, y: height - 14, class: 'axis', 'text-anchor': 'middle' }, day.slice(5)));
    }
  });
  series.forEach((s, k) => {
    root.append(svg('rect', { x: left + k * 110, y: height - 10, width: 10, height: 8, class: s.cls }));
    root.append(svg('text', { x: left + k * 110 + 14, y: height - 2, class: 'axis' }, s.label));
  });
  return root;
}

/** Horizontal bars for ranked counts ({label, count}), longest first. */
export function bars(rows, { width = 360 } = {}) {
  const rowH = 24, label = 150;
  const max = Math.max(1, ...rows.map((r) => r.count));
  const height = Math.max(rowH, rows.length * rowH);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart bars', role: 'img' });
  rows.forEach((r, i) => {
    const y = i * rowH;
    const w = ((width - label - 40) * r.count) / max;
    root.append(svg('text', { x: label - 6, y: y + 16, class: 'axis', 'text-anchor': 'end' }, r.label.length > 22 ? `${r.label.slice(0, 21)}…` : r.label));
    const rect = svg('rect', { x: label, y: y + 4, width: Math.max(1, w), height: rowH - 8, class: 'series-a' });
    rect.append(svg('title', {}, `${r.label}: ${r.count}`));
    root.append(rect);
    root.append(svg('text', { x: label + w + 6, y: y + 16, class: 'axis' }, r.count));
  });
  return root;
}

/**
 * A 0–1 scale filled up to `value`, with a tick at each mark ({at, label}): a confidence
 * against the thresholds that act on it.
 */
export function scale(value, marks, { cls = 'series-a', label = '' } = {}) {
  const width = 300, height = 16;
  const x = (v) => Math.min(1, Math.max(0, Number(v) || 0)) * width;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart scale', role: 'img', 'aria-label': label });
  root.append(svg('rect', { x: 0, y: 3, width, height: height - 6, class: 'track' }));
  root.append(svg('rect', { x: 0, y: 3, width: x(value), height: height - 6, class: cls }));
  for (const mark of marks) {
    const line = svg('line', { x1: x(mark.at), x2: x(mark.at), y1: 0, y2: height, class: 'mark' });
    line.append(svg('title', {}, mark.label));
    root.append(line);
  }
  return root;
}

/**
 * Coverage and precision (shares, 0–1) of automatic answers over the answer threshold
 * (0–1), from `points` ({answer_at, coverage, precision?, judged}; a point without a
 * precision breaks that line), with a vertical marker at each of `marks` ({at, label, cls}).
 * `labels` names the axis and the series ({x, coverage, precision, judged}); every point
 * carries its figures as a title.
 */
export function thresholdCurve(points, marks, { labels = {}, width = 560, height = 270 } = {}) {
  const top = 34, bottom = 52, left = 46, right = 16;
  const plotW = width - left - right, plotH = height - top - bottom;
  const clamp = (v) => Math.min(1, Math.max(0, Number(v) || 0));
  const x = (v) => left + clamp(v) * plotW;
  const y = (v) => top + plotH - clamp(v) * plotH;
  const pct = (v) => `${(clamp(v) * 100).toFixed(1)}%`;
  const has = (v) => typeof v === 'number' && Number.isFinite(v);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart curve', role: 'img', 'aria-label': labels.title || '' });
  for (let i = 0; i <= 4; i += 1) {
    const at = y(i / 4);
    root.append(svg('line', { x1: left, x2: left + plotW, y1: at, y2: at, class: 'grid' }));
    root.append(svg('text', { x: left - 6, y: at + 4, class: 'axis', 'text-anchor': 'end' }, `${i * 25}%`));
  }
  for (let i = 0; i <= 10; i += 1) {
    const at = x(i / 10);
    root.append(svg('line', { x1: at, x2: at, y1: top + plotH, y2: top + plotH + 4, class: 'tick' }));
    if (i % 2 === 0) root.append(svg('text', { x: at, y: top + plotH + 16, class: 'axis', 'text-anchor': 'middle' }, (i / 10).toFixed(1)));
  }
  root.append(svg('line', { x1: left, x2: left + plotW, y1: top + plotH, y2: top + plotH, class: 'frame' }));
  root.append(svg('line', { x1: left, x2: left, y1: top, y2: top + plotH, class: 'frame' }));
  if (labels.x) root.append(svg('text', { x: left + plotW / 2, y: top + plotH + 32, class: 'axis axis-title', 'text-anchor': 'middle' }, labels.x));
  const sorted = [...points].filter((p) => has(p.answer_at)).sort((a, b) => a.answer_at - b.answer_at);
  // A line per run of points that have the figure.
  const line = (key, cls) => {
    let run = [];
    const flush = () => {
      if (run.length > 1) root.append(svg('polyline', { points: run.join(' '), class: `line ${cls}` }));
      run = [];
    };
    for (const p of sorted) {
      if (has(p[key])) run.push(`${x(p.answer_at).toFixed(1)},${y(p[key]).toFixed(1)}`);
      else flush();
    }
    flush();
  };
  line('coverage', 'coverage');
  line('precision', 'precision');
  for (const p of sorted) {
    const head = `${labels.x || ''} ${p.answer_at.toFixed(2)}`.trim();
    const figures = `${labels.coverage || ''} ${pct(p.coverage)} · ${labels.precision || ''} ${has(p.precision) ? pct(p.precision) : '—'} · ${labels.judged || ''} ${p.judged ?? 0}`;
    for (const [key, cls] of [['coverage', 'coverage'], ['precision', 'precision']]) {
      if (!has(p[key])) continue;
      const dot = svg('circle', { cx: x(p.answer_at), cy: y(p[key]), r: 3, class: `dot ${cls}` });
      dot.append(svg('title', {}, `${head}: ${figures}`));
      root.append(dot);
    }
  }
  // Markers, their labels stacked above the plot so that two at one threshold stay legible.
  marks.forEach((mark, i) => {
    if (!has(mark.at)) return;
    const at = x(mark.at);
    const line = svg('line', { x1: at, x2: at, y1: top - 4, y2: top + plotH, class: `mark ${mark.cls || ''}`.trim() });
    line.append(svg('title', {}, mark.label));
    root.append(line);
    const right = at > left + plotW * 0.75;
    root.append(svg('text', { x: right ? at - 4 : at + 4, y: top - 22 + i * 12, class: `mark-label ${mark.cls || ''}`.trim(), 'text-anchor': right ? 'end' : 'start' }, mark.label));
  });
  // Legend.
  [['coverage', labels.coverage], ['precision', labels.precision]].forEach(([cls, label], k) => {
    const lx = left + k * 150;
    root.append(svg('line', { x1: lx, x2: lx + 18, y1: height - 8, y2: height - 8, class: `line ${cls}` }));
    root.append(svg('text', { x: lx + 24, y: height - 4, class: 'axis' }, label || cls));
  });
  return root;
}
