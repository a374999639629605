"""The web UI driven in a real headless browser (Debian's chromium + chromedriver, selenium).

Marked `ui` (not in the default suite). Set up and run:

    apt-get install -y chromium chromium-driver && pip install -e ".[ui-test]"
    python -m pytest -m ui tests/ui

Screenshots are written to $LIMNER_ARTIFACTS/ui (default: test-artifacts/ui in the working directory).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui

gr = pytest.importorskip("gradio")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from limner.ui.app import UISettings, build_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(os.environ.get("LIMNER_ARTIFACTS", "test-artifacts")) / "ui"
PROMPT = "two red apples to the left of a blue cup"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    out = tmp_path_factory.mktemp("ui-runs")
    app = build_app(UISettings(out_dir=out, concurrency=2))
    app.queue(default_concurrency_limit=2)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, show_error=False)
    yield f"http://127.0.0.1:{port}/", out
    app.close()


def _browser() -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,2200"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)


def _shot(driver: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _generate(driver: webdriver.Chrome, url: str, prompt: str = PROMPT) -> None:
    driver.get(url)
    box = WebDriverWait(driver, 60).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#prompt textarea")))
    box.send_keys(prompt)
    driver.find_element(By.ID, "generate").click()


def _wait_final(driver: webdriver.Chrome, timeout: float = 180) -> None:
    WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#final img")))


def _run_dir(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.CSS_SELECTOR, "#run-dir textarea, #run-dir input").get_attribute("value") or ""


def test_generate_shows_checks_rounds_final_and_the_heatmap(served: tuple[str, Path]) -> None:
    url, out = served
    driver = _browser()
    try:
        _generate(driver, url)
        _wait_final(driver)
        _shot(driver, "run-finished")
        checks = driver.find_element(By.ID, "checks").text
        assert "pass" in checks and "e0" in checks  # one row per check, with its result
        assert driver.find_elements(By.CSS_SELECTOR, "#rounds-gallery img")  # the image of every round
        assert "analysis" in driver.find_element(By.ID, "log").text and "final" in driver.find_element(By.ID, "log").text
        run_dir = Path(_run_dir(driver))
        assert run_dir.parent == out and (run_dir / "final.png").is_file()
        driver.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Performance matrix')]").click()
        WebDriverWait(driver, 30).until(ec.element_to_be_clickable((By.ID, "show-matrix"))).click()
        WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#heatmap img")))
        assert "generate" in driver.find_element(By.ID, "matrix-note").text
        _shot(driver, "heatmap")
    finally:
        driver.quit()


def test_two_sessions_at_once_each_get_their_own_run(served: tuple[str, Path]) -> None:
    url, _ = served
    drivers = [_browser(), _browser()]
    try:
        threads = [threading.Thread(target=_generate, args=(d, url, p)) for d, p in
                   zip(drivers, ["a red apple", "three blue cups"], strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for d in drivers:
            _wait_final(d)
        dirs = [_run_dir(d) for d in drivers]
        _shot(drivers[1], "second-session")
        assert dirs[0] and dirs[1] and dirs[0] != dirs[1]
        prompts = [(Path(d) / "manifest.json").read_text() for d in dirs]
        assert "a red apple" in prompts[0] and "three blue cups" in prompts[1]
    finally:
        for d in drivers:
            d.quit()


def test_the_run_browser_refuses_path_traversal(served: tuple[str, Path]) -> None:
    url, _ = served
    driver = _browser()
    try:
        driver.get(url)
        WebDriverWait(driver, 60).until(ec.element_to_be_clickable(
            (By.XPATH, "//button[@role='tab' and contains(., 'Runs')]"))).click()
        field = WebDriverWait(driver, 30).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#run-choice input")))
        field.send_keys("../../../../etc")
        driver.find_element(By.ID, "open-run").click()
        WebDriverWait(driver, 30).until(lambda d: "outside the folders" in d.page_source)
        assert "root:" not in driver.find_element(By.ID, "run-steps").text
        _shot(driver, "traversal-refused")
    finally:
        driver.quit()
