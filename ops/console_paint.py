"""How fast the console paints and how much it weighs, measured in Debian's Chromium
(headless, Playwright) against a running local cloud with its token:

    python -m ops.console_paint [--runs 10] [--sha <a transaction's SHA-256>]

For the home page (and a journey, with --sha): first paint and first contentful paint
(the browser's own Paint Timing entries), the moment each part the page loads was drawn,
and the bytes transferred (page, stylesheet, script, parts). Medians over the runs, each
in a fresh tab of one browser, after one warm-up run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from localcloud.console.access import read_token
from ops.environment import endpoint_url, local_state_dir

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MEASURE = """() => {
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
  const resources = performance.getEntriesByType('resource');
  const nav = performance.getEntriesByType('navigation')[0];
  return {first_paint_ms: paint['first-paint'], first_contentful_paint_ms: paint['first-contentful-paint'],
          parts_drawn_ms: window.__partsDrawn,
          bytes: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
          page_bytes: nav.encodedBodySize,
          resources: resources.map(r => [r.name.replace(location.origin, ''), r.encodedBodySize])};
}"""
DRAWN = """() => new Promise(done => {
  const parts = [...document.querySelectorAll('section.part')];
  const painted = () => performance.getEntriesByType('paint').length >= 2;
  const check = () => parts.every(p => p.dataset.loaded) && painted() ? done() : setTimeout(check, 5);
  const drawn = () => parts.every(p => p.dataset.loaded) ? (window.__partsDrawn = performance.now()) : setTimeout(drawn, 5);
  drawn(); check();
})"""


def measure(url: str, runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    samples = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(tempfile.mkdtemp(prefix="console-paint-"),
                                                                executable_path="/usr/bin/chromium", headless=True,
                                                                args=FLAGS)
        try:
            context.new_page().goto(url)  # the token becomes a cookie; the clean URL is what is measured
            clean = url.split("token=")[0].rstrip("?&")
            for run in range(runs + 1):
                tab = context.new_page()
                tab.bring_to_front()  # a tab in the background is not painted
                tab.goto(clean)
                tab.evaluate(DRAWN)
                if run:
                    samples.append(tab.evaluate(MEASURE))
                tab.close()
                context.pages[0].wait_for_timeout(300)  # the server idle again before the next run
        finally:
            context.close()
    median = {key: statistics.median(s[key] for s in samples) for key in
              ("first_paint_ms", "first_contentful_paint_ms", "parts_drawn_ms", "bytes", "page_bytes")}
    return {**{k: round(v, 1) for k, v in median.items()}, "resources": samples[-1]["resources"], "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sha")
    args = parser.parse_args()
    token = read_token(Path(os.environ.get("LOCALCLOUD_HOME", local_state_dir())))
    if not token:
        print("no console token: is the local cloud running (`make up`)?", file=sys.stderr)
        return 1
    results = {"home": measure(f"{endpoint_url()}/_localcloud/?token={token}", args.runs)}
    if args.sha:
        results["journey"] = measure(f"{endpoint_url()}/_localcloud/journey?sha={args.sha}&token={token}", args.runs)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
