"""Self-contained HTML report for `rag eval --report`: inline CSS and SVG, no scripts, fonts or network.

The report is one ``<div class="rag-report">`` (``report_html``) whose CSS is scoped to it, so that the
chat's Evaluate tab shows the very same report inside its page. It reads on a 390 px phone: charts scale
down, text wraps, and narrower than 900 px the question table becomes one card per question.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from rag.evaluate import METRICS

COUNTS = ("false_abstentions", "latency_ms_p50", "latency_ms_p95")
RATES = tuple(m for m in METRICS if m not in COUNTS)
QUOTE_CHARS = 280

CSS = """
.rag-report{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;background:#fff;
container-type:inline-size;overflow-wrap:break-word;text-align:left}
.rag-report .scroll{overflow-x:auto}.rag-report td:first-child,.rag-report .q th{white-space:nowrap}
.rag-report h1{font-size:22px;font-weight:700;margin:0 0 4px;color:#1d2430}.rag-report h2{font-size:17px;font-weight:600;margin:28px 0 8px;
color:#1d2430}.rag-report .sub{color:#5b6575}
.rag-report table{border-collapse:collapse;margin:6px 0;max-width:100%}.rag-report th,.rag-report td{
border:0;border-bottom:1px solid #e3e6eb;padding:5px 8px;text-align:left;vertical-align:top;color:#1d2430;
background:transparent}.rag-report th{background:#f4f6f9;font-weight:600}.rag-report .num{text-align:right;
font-variant-numeric:tabular-nums}.rag-report .cards{display:flex;gap:12px 20px;flex-wrap:wrap;
align-items:flex-start;margin:8px 0}.rag-report .chart{max-width:560px;min-width:0;flex:1 1 300px}
.rag-report .card{border:1px solid #e3e6eb;border-radius:6px;padding:8px 14px;flex:1 1 100px}
.rag-report .card b{display:block;font-size:20px}.rag-report .card span{color:#5b6575}
.rag-report svg{display:block;max-width:100%;height:auto}.rag-report svg text{font:12px system-ui,sans-serif;
fill:#1d2430}
.rag-report .q td{font-size:13px}.rag-report .q tr.fail td{background:#fff4f3}.rag-report .ok{color:#1a7f37;
font-weight:600}.rag-report .bad{color:#c0362c;font-weight:600}.rag-report .na{color:#6b7480}
.rag-report .tag{display:inline-block;border-radius:4px;padding:0 5px;font-size:11px;font-weight:600;
background:#fde7c7;color:#7a4a00}.rag-report .tag.fail{background:#fad4d0;color:#8c1d13}
.rag-report .quote{color:#3a4454;font-style:italic}.rag-report .off{color:#5b6575;font-size:12px}
.rag-report .legend i{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
@container (max-width: 900px){
.rag-report .q thead{display:none}
.rag-report .q,.rag-report .q tbody,.rag-report .q tr,.rag-report .q td{display:block;width:auto}
.rag-report .q tr{border:1px solid #e3e6eb;border-radius:6px;margin:10px 0;padding:4px 0}
.rag-report .q tr.fail{border-color:#f0b7b1;background:#fff4f3}
.rag-report .q td{border:0;padding:2px 10px;text-align:left;overflow-wrap:anywhere}
.rag-report .q td[data-label]::before{content:attr(data-label) ": ";color:#5b6575;font-weight:600}
.rag-report .q td.inline{display:inline-block;padding-right:4px}
}
"""
PAGE_CSS = "body{margin:0;background:#fff}body>.rag-report{padding:24px}" \
    "@media (max-width:700px){body>.rag-report{padding:12px}}"
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
    """Horizontal bars, one group per rate metric, one bar per system; the 0..1 axis spans 220 units."""
    label_w, width, bar_h, gap = 150, 220, 14, 10
    group_h = bar_h * len(series) + gap
    height = group_h * len(RATES) + 24
    parts = [f'<svg role="img" aria-label="rate metrics" width="{label_w + width + 60}" height="{height}" '
             f'viewBox="0 0 {label_w + width + 60} {height}" xmlns="http://www.w3.org/2000/svg">']
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
           f'viewBox="0 0 {size + 2 * pad} {size + 2 * pad}" xmlns="http://www.w3.org/2000/svg">'
           f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" '
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


# (header, classes): "inline" cells share a line when the table becomes cards on a narrow screen.
QUESTION_COLUMNS = (("", "inline"), ("id", "inline"), ("question", ""), ("answer", ""), ("first citation", ""),
                    ("gold", ""), ("rank", "num inline"), ("answer ok", "inline"), ("citation ok", "inline"),
                    ("abstention ok", "inline"), ("conf.", "num inline"), ("ms", "num inline"))


def _question_head() -> str:
    cells = "".join(f'<th class="{cls}">{escape(name)}</th>' for name, cls in QUESTION_COLUMNS)
    return f"<thead><tr>{cells}</tr></thead>"


def _question_rows(per_question: list[dict]) -> str:
    ordered = sorted(per_question, key=lambda r: not is_failure(r))  # stable: failures first, then the rest
    out = []
    for r in ordered:
        fail = is_failure(r)
        status = '<span class="tag fail">FAIL</span>' if fail else '<span class="ok">ok</span>'
        answer = ('<span class="tag">ABSTAINED</span> ' if r["abstained"] else "") + escape(r["answer"])
        gold = "<br>".join(escape(g) for g in r["gold"]) or '<span class="na">unanswerable</span>'
        answerable = r["answerable"]
        values = (status, escape(r["id"]), escape(r["question"]), answer, _citation(r.get("citation")), gold,
                  str(r["rank"]) if r["rank"] is not None else "–",
                  _flag(r["answer_correct"] if answerable else None),
                  _flag(r["citation_correct"] if answerable else None), _flag(r["abstention_correct"]),
                  f'{float(r["confidence"]):.2f}', f'{float(r["latency_ms"]):.1f}')
        cells = "".join(f'<td class="{cls}"' + (f' data-label="{escape(name)}"' if name else "") + f">{value}</td>"
                        for (name, cls), value in zip(QUESTION_COLUMNS, values))
        out.append(f'<tr class="{"fail" if fail else "pass"}" id="q-{escape(r["id"])}">{cells}</tr>')
    return "".join(out)


def report_html(result: dict, baseline: dict | None = None) -> str:
    """The report as one ``<div class="rag-report">`` styled by :data:`CSS` (the chat's Evaluate tab shows it)."""
    series = [("rag", result)] + ([("llamaindex", baseline)] if baseline else [])
    failures = sum(1 for r in result["per_question"] if is_failure(r))
    cards = "".join(f'<div class="card"><b>{_fmt(d[k], k)}</b><span>{escape(k)} · {escape(name)}</span></div>'
                    for k in COUNTS for name, d in series)
    return f"""<div class="rag-report">
<h1>rag eval report</h1>
<div class="sub">{result["n"]} questions · {result["answerable"]} answerable ·
 {result["unanswerable"]} unanswerable · {failures} failures</div>
<h2>Metrics</h2>
<div class="cards"><div class="chart">{_bars(series)}<div class="cards">{cards}</div></div>
<div>{_metrics_table(series)}</div></div>
{_calibration(result["calibration"]) if result.get("calibration") else ""}
<h2>Questions <span class="sub">(failures first)</span></h2>
<div class="scroll"><table class="q">{_question_head()}<tbody>
{_question_rows(result["per_question"])}
</tbody></table></div>
</div>"""


def write_report(path: Path, result: dict, baseline: dict | None = None) -> None:
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>rag eval report</title><style>{PAGE_CSS}{CSS}</style></head><body>
{report_html(result, baseline)}
</body></html>
"""
    Path(path).write_text(html, encoding="utf-8")
