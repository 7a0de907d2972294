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
