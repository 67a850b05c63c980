"""The page at / in a real headless browser (Debian's chromium, driven by selenium through
chromium-driver): a picture dropped onto it and one pasted into it get their tags, drawn.

Skipped where chromium-driver is not installed, except in CI (.ci/run installs it).
Set SERVE_SCREENSHOT=path.png to keep a screenshot of the page (docs/serve.png)."""
import base64
import os
import shutil
import time

import pytest
import requests

from test_serve import Served, pictures, runs  # noqa: F401 (fixtures)

DRIVER = shutil.which("chromedriver")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if not (DRIVER and BROWSER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing: .ci/run installs them")
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1000,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page_server(runs):  # noqa: F811
    served = Served("--run", str(runs / "shapes"))
    yield served
    served.stop()


# A File from base64 bytes, handed to the page the way a drop or a paste hands it.
SEND = """
const [kind, name, type, data] = arguments;
const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
const transfer = new DataTransfer();
transfer.items.add(new File([bytes], name, {type}));
if (kind === "drop") {
  document.getElementById("drop").dispatchEvent(
    new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
} else {
  document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true}));
}
"""


def wait_for(driver, count, timeout=60):
    """The page's finished results once there are `count` of them."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = driver.find_elements(By.CSS_SELECTOR, ".result .caption")
        if len(done) >= count:
            return driver.find_elements(By.CSS_SELECTOR, ".result")
        errors = driver.find_elements(By.CSS_SELECTOR, ".result .error")
        assert not errors, errors[0].text
        time.sleep(0.2)
    raise AssertionError(f"no tags appeared within {timeout} s")


def test_dropped_and_pasted_pictures_get_their_tags_drawn(browser, page_server, pictures):  # noqa: F811
    from selenium.webdriver.common.by import By

    browser.get(page_server.url + "/")
    info = browser.find_element(By.ID, "info")
    deadline = time.monotonic() + 30
    while "tags" not in info.text and time.monotonic() < deadline:
        time.sleep(0.2)
    assert info.text == "shapes: 4 tags"  # the run's name and its tag count
    for kind, path in (("drop", pictures[0]), ("paste", pictures[3])):
        mime = "image/png" if path.suffix == ".png" else "image/jpeg"
        browser.execute_script(SEND, kind, path.name, mime,
                               base64.b64encode(path.read_bytes()).decode())
    results = wait_for(browser, 2)
    for result, path in zip(results, (pictures[3], pictures[0])):  # newest first
        expected = requests.post(page_server.url + "/api/tag", timeout=60,
                                 files={"image": (path.name, path.read_bytes())}).json()
        caption = result.find_element(By.CSS_SELECTOR, ".caption").get_attribute("value")
        assert caption == expected["caption"] and caption
        image = result.find_element(By.TAG_NAME, "img")
        assert browser.execute_script("return arguments[0].naturalWidth", image) >= 400
    if os.environ.get("SERVE_SCREENSHOT"):
        browser.save_screenshot(os.environ["SERVE_SCREENSHOT"])
    set_threshold(browser, 0)  # every score is at or over 0: each caption gets all 4 tags
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and tag_counts(browser) != [4, 4]:
        time.sleep(0.2)
    assert tag_counts(browser) == [4, 4]
    assert browser.find_element(By.ID, "threshold-value").text == "0"


def tag_counts(browser):
    """Tags in each caption, or None while the page is rebuilding a result."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return [len(c.get_attribute("value").split(", ")) for c in captions(browser)]
    except StaleElementReferenceException:
        return None


def captions(browser):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, ".result .caption")


def set_threshold(browser, value):
    """Move the slider as a person drags it: its value, then an input event."""
    browser.execute_script("""
        const slider = document.getElementById("threshold");
        slider.value = arguments[0];
        slider.dispatchEvent(new Event("input"));""", str(value))
