"""The HTML report in a real browser: headless Chromium renders it without console errors, shows the ranked
table, shows a malicious class name as text (no alert), and leaves a screenshot for a person to look at.

Needs the Debian packages chromium and chromium-driver (`make test` installs them via scripts/system-deps.sh).
Where they are missing the test fails and says how to install them; it is never skipped silently.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from blobbotronic.compare.runner import compare
from blobbotronic.report import render

CHROMIUM = os.environ.get("BLOBBOTRONIC_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BLOBBOTRONIC_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOT = Path("blobbotronic-out") / "screenshots" / "report.png"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--window-size=1280,900"]
EVIL = "<script>alert(1)</script>"


def chromium():
    """A headless Chromium driven by Selenium, or a loud failure saying what to install."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).is_file() or shutil.which(p))]
    if missing:
        pytest.fail(f"Chromium is needed for the browser test and {', '.join(missing)} is missing: "
                    "apt-get install chromium chromium-driver (or run `make system-deps`).", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("Selenium is needed for the browser test: pip install 'blobbotronic[dev]' "
                    "(or pip install selenium).", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def screenshot(driver, html: Path, png: Path, height: int | None = None) -> Path:
    """Open ``html`` and save a screenshot of the whole page (or its first ``height`` pixels) to ``png``."""
    driver.get(html.resolve().as_uri())
    full = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(full, height or full))
    time.sleep(0.2)
    png.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(png))
    return png


def test_report_renders_in_chromium(tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    res = compare("digits", "logistic,mlp,cnn", seeds=3, budget="40 steps", store=tmp_path / "b.db", workers=1)
    rows = [{**r, "classes": [EVIL, *r["classes"][1:]]} for r in res.rows]  # a user's class named like a script
    html = render(rows, tmp_path / "report", store=tmp_path / "b.db")

    driver = chromium()
    try:
        shot = screenshot(driver, html, SCREENSHOT)
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, f"console errors: {severe}"
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert  # noqa: B018  (the class name must not have run as a script)
        ranked = driver.find_element(By.CSS_SELECTOR, "table.ranked")
        assert ranked.is_displayed() and ranked.size["width"] > 600
        body = [tr.text for tr in ranked.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert len(body) == 3 and body[0].startswith("1 ")
        assert EVIL in driver.find_element(By.CSS_SELECTOR, "p.classes").text
        assert "Verdict" in driver.find_element(By.CSS_SELECTOR, "section.verdict").text
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == 3 and all(driver.execute_script("return arguments[0].naturalWidth", i) > 300
                                         for i in images)
        assert not driver.execute_script("return document.scripts.length")
    finally:
        driver.quit()
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot.resolve()}")
