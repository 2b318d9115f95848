"""The HTML page's frame and style: inline CSS, system fonts, no scripts, nothing fetched (a CSP says so)."""

from __future__ import annotations

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #4269d0; --soft: #f5f7fa; --good: #e8f0fe; }
* { box-sizing: border-box; }
body { margin: 0; background: #fbfcfd; color: var(--ink);
  font: 15px/1.55 -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 24px 48px; }
header h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
header .meta { color: var(--muted); font-size: 13px; margin: 0; }
h2 { font-size: 20px; margin: 34px 0 10px; }
h3 { font-size: 15px; margin: 22px 0 8px; color: var(--muted); font-weight: 600; }
.verdict { background: white; border: 1px solid var(--line); border-left: 5px solid var(--accent);
  border-radius: 8px; padding: 14px 20px; margin-top: 22px; }
.verdict h2 { margin: 0 0 6px; font-size: 17px; }
.verdict p { margin: 6px 0; }
section.dataset { background: white; border: 1px solid var(--line); border-radius: 10px; padding: 6px 20px 20px;
  margin-top: 26px; }
section.dataset > h2 { margin-top: 16px; }
section.dataset > h2 small { color: var(--muted); font-weight: 400; font-size: 13px; margin-left: 8px; }
.lede { margin: 0 0 10px; color: var(--muted); font-size: 13px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { padding: 7px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--soft); color: var(--muted); font-weight: 600; font-size: 12px; text-align: right;
  vertical-align: bottom; }
th.text, td.text { text-align: left; }
td.text { min-width: 140px; }
td.model { font-weight: 600; text-align: left; }
tr.first td { background: var(--good); }
td.rank { font-weight: 700; text-align: center; }
th.rank { text-align: center; }
.track { display: inline-block; position: relative; width: 84px; height: 10px; background: var(--soft);
  border-radius: 5px; }
.band { position: absolute; top: 2px; height: 6px; background: #97bbf5; border-radius: 3px; }
.dot { position: absolute; top: 0; width: 10px; height: 10px; margin-left: -5px; border-radius: 50%;
  background: var(--accent); border: 1.5px solid white; }
.ci { margin-left: 8px; color: var(--muted); font-size: 12px; }
.front { color: #1b6b3a; font-size: 12px; }
.off { color: var(--muted); }
details { margin-top: 14px; }
summary { cursor: pointer; color: var(--muted); font-weight: 600; font-size: 14px; }
summary h3 { display: inline; margin: 0; font-size: 14px; }
figure { margin: 18px 0 0; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
.notes { color: var(--muted); font-size: 13px; }
.notes li { margin: 3px 0; }
.classes { color: var(--muted); font-size: 13px; margin: 0 0 10px; }
.warning { background: #fff8e6; border: 1px solid #f0d48a; border-left: 5px solid #d9822b; border-radius: 8px;
  padding: 14px 20px; margin-top: 22px; }
.warning h2 { margin: 0 0 6px; font-size: 17px; color: #8a4b08; }
.warning p { margin: 6px 0; }
table.pairs td.text:last-child { white-space: normal; min-width: 280px; color: var(--muted); }
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""
