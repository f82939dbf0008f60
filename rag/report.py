"""Self-contained HTML report for `rag eval --report`: inline CSS and SVG, no scripts, fonts or network."""

from __future__ import annotations

from html import escape
from pathlib import Path

from rag.evaluate import METRICS

COUNTS = ("false_abstentions", "latency_ms_p50", "latency_ms_p95")
RATES = tuple(m for m in METRICS if m not in COUNTS)
QUOTE_CHARS = 280

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.sub{color:#5b6575}
table{border-collapse:collapse;margin:6px 0}th,td{border-bottom:1px solid #e3e6eb;padding:5px 8px;
text-align:left;vertical-align:top}th{background:#f4f6f9;font-weight:600}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}.cards{display:flex;gap:12px 28px;flex-wrap:wrap;align-items:flex-start;
margin:8px 0}.card{border:1px solid #e3e6eb;border-radius:6px;padding:8px 14px;min-width:140px}
.card b{display:block;font-size:20px}.card span{color:#5b6575}
.q td{font-size:13px}.q tr.fail{background:#fff4f3}.ok{color:#1a7f37;font-weight:600}.bad{color:#c0362c;
font-weight:600}.na{color:#9aa3ae}.tag{display:inline-block;border-radius:4px;padding:0 5px;font-size:11px;
font-weight:600;background:#fde7c7;color:#7a4a00}.tag.fail{background:#fad4d0;color:#8c1d13}
.quote{color:#3a4454;font-style:italic}.off{color:#5b6575;font-size:12px}.legend i{display:inline-block;
width:10px;height:10px;margin:0 4px 0 12px}svg text{font:12px system-ui,sans-serif;fill:#1d2430}
"""
COLORS = ("#3b6fd8", "#e08a2e")


def is_failure(row: dict) -> bool:
    """Answerable and answered wrong, or unanswerable and not abstained."""
    return not row["answer_correct"] if row["answerable"] else not row["abstained"]


def _fmt(value, metric: str = "") -> str:
    if metric.startswith("latency") and isinstance(value, (int, float)):
        return f"{value:.1f} ms"
    return f"{value:.3f}" if isinstance(value, float) else escape(str(value))


def _flag(value: bool | None) -> str:
    return '<span class="na">–</span>' if value is None else \
        ('<span class="ok">✓</span>' if value else '<span class="bad">✗</span>')


def _bars(series: list[tuple[str, dict]]) -> str:
    """Horizontal bars, one group per rate metric, one bar per system; the 0..1 axis spans 300px."""
    label_w, width, bar_h, gap = 170, 300, 14, 10
    group_h = bar_h * len(series) + gap
    height = group_h * len(RATES) + 24
    parts = [f'<svg role="img" aria-label="rate metrics" width="{label_w + width + 60}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for x in (0, 0.5, 1):
        px = label_w + x * width
        parts.append(f'<line x1="{px}" y1="0" x2="{px}" y2="{height - 20}" stroke="#e3e6eb"/>'
                     f'<text x="{px}" y="{height - 6}" text-anchor="middle">{x:g}</text>')
    for i, metric in enumerate(RATES):
        y0 = i * group_h + 4
        parts.append(f'<text x="{label_w - 8}" y="{y0 + group_h / 2}" text-anchor="end">{escape(metric)}</text>')
        for j, (_, data) in enumerate(series):
            value = max(0.0, min(1.0, float(data.get(metric, 0.0))))
            y = y0 + j * bar_h
            parts.append(f'<rect x="{label_w}" y="{y}" width="{value * width:.1f}" height="{bar_h - 2}" '
                         f'fill="{COLORS[j % 2]}" rx="2"/><text x="{label_w + value * width + 4:.1f}" '
                         f'y="{y + bar_h - 4}">{value:.2f}</text>')
    parts.append("</svg>")
    legend = "".join(f'<i style="background:{COLORS[j % 2]}"></i>{escape(name)}' for j, (name, _) in
                     enumerate(series))
    return f'<div class="legend sub">{legend}</div>' + "".join(parts)


def _metrics_table(series: list[tuple[str, dict]]) -> str:
    head = "".join(f'<th class="num">{escape(name)}</th>' for name, _ in series)
    rows = "".join(f"<tr><td>{escape(k)}</td>" + "".join(f'<td class="num">{_fmt(d.get(k, ""), k)}</td>'
                                                          for _, d in series) + "</tr>"
                   for k in (*METRICS, "n", "answerable", "unanswerable"))
    return f"<table><tr><th>metric</th>{head}</tr>{rows}</table>"


def _calibration(bins: list[dict]) -> str:
    size, pad = 220, 30
    pts = [(pad + float(b["mean_confidence"]) * size, pad + (1 - float(b["observed"])) * size) for b in bins]
    curve = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    svg = (f'<svg role="img" aria-label="calibration curve" width="{size + 2 * pad}" height="{size + 2 * pad}" '
           f'xmlns="http://www.w3.org/2000/svg"><rect x="{pad}" y="{pad}" width="{size}" height="{size}" '
           f'fill="none" stroke="#c9ced6"/><line x1="{pad}" y1="{pad + size}" x2="{pad + size}" y2="{pad}" '
           f'stroke="#c9ced6" stroke-dasharray="4 3"/><polyline points="{curve}" fill="none" '
           f'stroke="{COLORS[0]}" stroke-width="2"/>'
           + "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{COLORS[0]}"/>' for x, y in pts)
           + f'<text x="{pad + size / 2}" y="{size + 2 * pad - 6}" text-anchor="middle">mean confidence</text>'
           f'<text x="12" y="{pad + size / 2}" transform="rotate(-90 12 {pad + size / 2})" '
           f'text-anchor="middle">share answerable</text></svg>')
    rows = "".join(f'<tr><td>{escape(str(b["bin"]))}</td><td class="num">{int(b["n"])}</td>'
                   f'<td class="num">{float(b["mean_confidence"]):.3f}</td>'
                   f'<td class="num">{float(b["observed"]):.3f}</td></tr>' for b in bins)
    table = (f'<table><tr><th>bin</th><th class="num">n</th><th class="num">mean confidence</th>'
             f'<th class="num">share answerable</th></tr>{rows}</table>')
    return (f'<h2>Calibration</h2><p class="sub">Confidence is the abstention model\'s probability that the '
            f'articles answer the question; below 0.5 the bot abstains.</p><div class="cards">{svg}{table}</div>')


def _citation(c: dict | None) -> str:
    if not c:
        return '<span class="na">none</span>'
    quote = c.get("quote", "")
    short = quote if len(quote) <= QUOTE_CHARS else quote[:QUOTE_CHARS].rstrip() + "…"
    return (f'<b>{escape(c.get("doc_id", ""))}</b> · {escape(c.get("outlet") or "")}<br>'
            f'<span class="quote" title="{escape(quote)}">“{escape(short)}”</span> '
            f'<span class="off">[{int(c.get("start", 0))}:{int(c.get("end", 0))}]</span>')


def _question_rows(per_question: list[dict]) -> str:
    ordered = sorted(per_question, key=lambda r: not is_failure(r))  # stable: failures first, then the rest
    out = []
    for r in ordered:
        fail = is_failure(r)
        status = '<span class="tag fail">FAIL</span>' if fail else '<span class="ok">ok</span>'
        answer = ('<span class="tag">ABSTAINED</span> ' if r["abstained"] else "") + escape(r["answer"])
        gold = "<br>".join(escape(g) for g in r["gold"]) or '<span class="na">unanswerable</span>'
        answerable = r["answerable"]
        out.append(
            f'<tr class="{"fail" if fail else "pass"}" id="q-{escape(r["id"])}"><td>{status}</td>'
            f'<td>{escape(r["id"])}</td><td>{escape(r["question"])}</td><td>{answer}</td>'
            f'<td>{_citation(r.get("citation"))}</td><td>{gold}</td>'
            f'<td class="num">{r["rank"] if r["rank"] is not None else "–"}</td>'
            f'<td>{_flag(r["answer_correct"] if answerable else None)}</td>'
            f'<td>{_flag(r["citation_correct"] if answerable else None)}</td>'
            f'<td>{_flag(r["abstention_correct"])}</td><td class="num">{float(r["confidence"]):.2f}</td>'
            f'<td class="num">{float(r["latency_ms"]):.1f}</td></tr>')
    return "".join(out)


def write_report(path: Path, result: dict, baseline: dict | None = None) -> None:
    series = [("rag", result)] + ([("llamaindex", baseline)] if baseline else [])
    failures = sum(1 for r in result["per_question"] if is_failure(r))
    cards = "".join(f'<div class="card"><b>{_fmt(d[k], k)}</b><span>{escape(k)} · {escape(name)}</span></div>'
                    for k in COUNTS for name, d in series)
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rag eval report</title><style>{CSS}</style></head><body>
<h1>rag eval report</h1>
<div class="sub">{result["n"]} questions · {result["answerable"]} answerable ·
 {result["unanswerable"]} unanswerable · {failures} failures</div>
<h2>Metrics</h2>
<div class="cards"><div style="max-width:560px">{_bars(series)}<div class="cards">{cards}</div></div>
<div>{_metrics_table(series)}</div></div>
{_calibration(result["calibration"]) if result.get("calibration") else ""}
<h2>Questions <span class="sub">(failures first)</span></h2>
<table class="q"><tr><th></th><th>id</th><th>question</th><th>answer</th><th>first citation</th><th>gold</th>
<th class="num">rank</th><th>answer ok</th><th>citation ok</th><th>abstention ok</th><th class="num">conf.</th>
<th class="num">ms</th></tr>
{_question_rows(result["per_question"])}
</table>
</body></html>
"""
    Path(path).write_text(html, encoding="utf-8")
