"""The page in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Outside CI these skip when the browser is not installed; in CI (``CI`` set) a
missing browser is a failure: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil

import pytest

from blog_images_tui.testing.fake_images_api import Reply
from blog_images_tui.web.server import page_url
from tests.support import settle
from tests.support.web import wait_for_job

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")
JOB = {"post_id": 53, "section_id": 1, "prompt": "A lighthouse at dawn, watercolour", "size": "1024x1024",
       "partial_images": 0}


def _driver(tmp_path):
    if not (os.path.exists(CHROMEDRIVER) and (shutil.which("chromium") or os.path.exists("/usr/bin/chromium"))):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed (.ci/run installs them)")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser(tmp_path):
    driver = _driver(tmp_path)
    driver.set_window_size(1280, 800)
    yield driver
    driver.quit()


def wait_until(driver, condition, timeout_s: float = 20, what: str = "condition"):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page re-renders lists (a gallery refresh): an element found a moment ago may be gone; look again.
    return WebDriverWait(driver, timeout_s, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition, message=what)


def css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def css_all(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def open_page(browser, web_local):
    host, port = web_local.server.bound
    browser.get(page_url(host, port, web_local.token))  # what `serve` prints
    wait_until(browser, lambda d: css(d, "#app").is_displayed(), what="the app to open")


def seed(web_local, **fields) -> dict:
    with web_local.client() as client:
        job = client.post("/api/v1/jobs", json={**JOB, **fields}).json()
        return wait_for_job(client, job["job_id"])


def test_the_printed_url_opens_the_page_and_the_token_leaves_the_address_bar(browser, web_local):
    open_page(browser, web_local)
    assert browser.execute_script("return location.hash") == ""
    assert web_local.token not in browser.current_url
    assert browser.execute_script("return sessionStorage.getItem('blog-images-token')") == web_local.token
    assert web_local.store_url in css(browser, "#store-name").text
    # A wrong token: the login form, in words.
    browser.execute_script("sessionStorage.setItem('blog-images-token', 'wrong-token-0000000000')")
    browser.refresh()
    wait_until(browser, lambda d: css(d, "#login").is_displayed(), what="the login form")
    wait_until(browser, lambda d: "refused" in css(d, "#login-error").text, what="the refusal")
    css(browser, "#login-token").send_keys(web_local.token)
    css(browser, "#login-form button").click()
    wait_until(browser, lambda d: css(d, "#app").is_displayed(), what="the app after login")


def test_browse_to_an_image_and_see_its_metadata(browser, web_local):
    stored = seed(web_local)
    open_page(browser, web_local)
    css(browser, '#posts button[data-post="53"]').click()
    wait_until(browser, lambda d: css_all(d, '#posts button.section[data-section="1"]'), what="the sections")
    css(browser, '#posts button.section[data-section="1"]').click()
    name = stored["images"][0]["name"]
    thumb = wait_until(browser, lambda d: css_all(d, f'#gallery .thumb[data-name="{name}"]'), what="the thumbnail")[0]
    # The thumbnail loaded through the session cookie (a real WebP, decoded by the browser).
    wait_until(browser, lambda d: d.execute_script(
        "const i = arguments[0].querySelector('img'); return i.complete && i.naturalWidth > 0", thumb),
        what="the thumbnail image")
    assert browser.execute_script("return arguments[0].querySelector('img').naturalWidth", thumb) == 320
    thumb.click()
    wait_until(browser, lambda d: css(d, "#viewer").get_attribute("open") is not None, what="the viewer")
    wait_until(browser, lambda d: JOB["prompt"] in css(d, "#viewer-meta").text, what="the metadata")
    meta = css(browser, "#viewer-meta").text
    assert "gpt-image-2" in meta and "1024×1024" in meta
    wait_until(browser, lambda d: d.execute_script("return document.getElementById('viewer-img').naturalWidth")
               == 1024, what="the full image")
    # The form takes the image's settings; the form fields follow the open section.
    css(browser, "#viewer-reuse").click()
    assert css(browser, '#gen-form [name="prompt"]').get_attribute("value") == JOB["prompt"]
    assert css(browser, '#gen-form [name="post_id"]').get_attribute("value") == "53"


def test_generate_one_and_see_it_appear(browser, web_local, fake_api):
    fake_api.set_latency(0.5)
    open_page(browser, web_local)
    form = {"post_id": "53", "section_id": "1", "prompt": "A red kite over the hills"}
    for name, value in form.items():
        css(browser, f'#gen-form [name="{name}"]').send_keys(value)
    wait_until(browser, lambda d: "Estimated cost: ~$" in css(d, "#cost").text, what="the cost estimate")
    css(browser, "#gen-submit").click()
    card = wait_until(browser, lambda d: css_all(d, "#job-list .job"), what="the job card")[0]
    wait_until(browser, lambda d: card.get_attribute("data-status") == "stored", timeout_s=40, what="stored")
    assert len(fake_api.requests) == 1 and fake_api.requests[0].body["prompt"] == form["prompt"]
    # It shows in the gallery of its section, marked as new.
    fresh = wait_until(browser, lambda d: css_all(d, "#gallery .thumb.fresh"), what="the new thumbnail")[0]
    assert "Post 53 · section 1" in css(browser, "#gallery-title").text
    assert fresh.get_attribute("data-name").endswith(".png")


def test_live_previews_show_while_it_runs_even_for_a_job_a_script_posted(browser, web_local, fake_api):
    fake_api.set_latency(8)
    open_page(browser, web_local)
    with web_local.client() as client:
        client.post("/api/v1/jobs", json={**JOB, "partial_images": 2})
    preview = wait_until(browser, lambda d: css_all(d, "#job-list .job img.preview"), timeout_s=40,
                         what="a partial preview")[0]
    assert preview.get_attribute("src").startswith("data:image/png;base64,")
    wait_until(browser, lambda d: css(d, "#job-list .job").get_attribute("data-status") == "stored", timeout_s=40,
               what="stored")


def test_errors_are_shown_in_words(browser, web_local, fake_api):
    fake_api.enqueue(Reply.error(400, code="moderation_blocked",
                                 message="Your request was rejected as a result of our safety system."))
    open_page(browser, web_local)
    for name, value in {"post_id": "53", "section_id": "1", "prompt": "something refused"}.items():
        css(browser, f'#gen-form [name="{name}"]').send_keys(value)
    css(browser, "#gen-submit").click()
    card = wait_until(browser, lambda d: css_all(d, "#job-list .job"), what="the job card")[0]
    wait_until(browser, lambda d: card.get_attribute("data-status") == "failed", timeout_s=40, what="failed")
    # The card's error line is drawn a render after its status (the list may redraw the card): look again.
    wait_until(browser, lambda d: any("rejected by the content policy" in line.text
                                      for line in css_all(d, "#job-list .job .error")), what="the error in words")
    # Bad input is refused before anything is sent, with the core's message under the form.
    size = css(browser, '#gen-form [name="size"]')
    from selenium.webdriver.support.ui import Select

    Select(size).select_by_value("custom")
    css(browser, '#gen-form [name="custom_size"]').send_keys("1000x1000")
    wait_until(browser, lambda d: "multiples of 16" in css(d, "#gen-error").text, what="the size error")
    css(browser, "#gen-submit").click()
    wait_until(browser, lambda d: "multiples of 16" in css(d, "#gen-error").text, what="the refusal of the post")
    assert settle(fake_api) == 1 and len(css_all(browser, "#job-list .job")) == 1


def test_keyboard_alone(browser, web_local):
    for index in range(3):
        seed(web_local, prompt=f"picture {index}")
    open_page(browser, web_local)
    from selenium.webdriver.common.keys import Keys

    body = css(browser, "body")
    body.send_keys("g")
    assert browser.switch_to.active_element.get_attribute("name") == "prompt"
    css(browser, '#posts button[data-post="53"]').send_keys(Keys.ENTER)
    section = wait_until(browser, lambda d: css_all(d, '#posts button.section[data-section="1"]'),
                         what="the sections")[0]
    section.send_keys(Keys.ENTER)
    wait_until(browser, lambda d: len(css_all(d, "#gallery .thumb")) == 3, what="three thumbnails")
    thumbs = css_all(browser, "#gallery .thumb")
    thumbs[0].send_keys(Keys.ARROW_RIGHT)
    assert browser.switch_to.active_element == thumbs[1]
    thumbs[1].send_keys(Keys.END)
    assert browser.switch_to.active_element == thumbs[2]
    thumbs[2].send_keys(Keys.ENTER)
    wait_until(browser, lambda d: css(d, "#viewer").get_attribute("open") is not None, what="the viewer")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_until(browser, lambda d: css(d, "#viewer").get_attribute("open") is None, what="the viewer to close")


def test_phone_width_shows_one_panel_at_a_time_without_sideways_scrolling(browser, web_local):
    seed(web_local)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    open_page(browser, web_local)
    assert css(browser, ".tabs").is_displayed()
    assert css(browser, "#browse").is_displayed() and not css(browser, "#generate").is_displayed()
    css(browser, '.tabs button[data-show="generate"]').click()
    assert css(browser, "#generate").is_displayed() and not css(browser, "#browse").is_displayed()
    assert browser.switch_to.active_element.get_attribute("name") == "prompt"
    for tab in ("jobs", "browse", "generate"):
        css(browser, f'.tabs button[data-show="{tab}"]').click()
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390, tab


def open_image(browser, name: str) -> None:
    css(browser, '#posts button[data-post="53"]').click()
    wait_until(browser, lambda d: css_all(d, '#posts button.section[data-section="1"]'), what="the sections")
    css(browser, '#posts button.section[data-section="1"]').click()
    wait_until(browser, lambda d: css_all(d, f'#gallery .thumb[data-name="{name}"]'), what="the thumbnail")[0].click()
    wait_until(browser, lambda d: css(d, "#viewer").get_attribute("open") is not None, what="the viewer")


def test_variants_side_by_side_keep_one_and_prune(browser, web_local):
    job = seed(web_local, n=3)
    names = [image["name"] for image in job["images"]]
    open_page(browser, web_local)
    open_image(browser, names[0])
    variants = wait_until(browser, lambda d: len(css_all(d, "#variant-list .variant")) == 3
                          and css_all(d, "#variant-list .variant"), what="three variants")
    assert [v.get_attribute("data-name") for v in variants] == names
    variants[1].find_element("css selector", "button.keep").click()
    browser.switch_to.alert.accept()  # "Keep ... and delete the other 2 variants?"
    wait_until(browser, lambda d: [t.get_attribute("data-name") for t in css_all(d, "#gallery .thumb")] == [names[1]],
               what="only the kept variant left")
    with web_local.client() as client:
        listing = client.get("/api/v1/posts/53/sections/1/images").json()["images"]
    assert [image["name"] for image in listing] == [names[1]]


def test_edit_from_the_viewer_and_see_its_lineage(browser, web_local, fake_api):
    source = seed(web_local)["images"][0]["name"]
    open_page(browser, web_local)
    open_image(browser, source)
    wait_until(browser, lambda d: css(d, "#viewer-edit").is_enabled(), what="the edit button")
    css(browser, "#viewer-edit").click()
    assert css(browser, "#edit-banner").is_displayed() and source in css(browser, "#edit-source").text
    assert browser.switch_to.active_element.get_attribute("name") == "prompt"
    browser.switch_to.active_element.send_keys("The same lighthouse, at night")
    css(browser, "#gen-submit").click()
    card = wait_until(browser, lambda d: [c for c in css_all(d, "#job-list .job") if "at night" in c.text],
                      what="the edit's job card")[0]
    wait_until(browser, lambda d: card.get_attribute("data-status") == "stored", timeout_s=40, what="stored")
    assert fake_api.requests[-1].path.endswith("/images/edits")
    card.find_element("css selector", ".thumb").click()
    wait_until(browser, lambda d: "Edited from" in css(d, "#viewer-lineage").text, what="the lineage")
    assert source.rsplit(".", 1)[0] in css(browser, "#viewer-lineage").text
    css(browser, "#viewer-lineage .lineage-link").click()  # to the source
    wait_until(browser, lambda d: css(d, "#viewer-title").text == source, what="the source in the viewer")


def test_publish_and_copy_the_snippet(browser, web_local):
    name = seed(web_local)["images"][0]["name"]
    browser.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["clipboardReadWrite",
                                                                         "clipboardSanitizedWrite"]})
    open_page(browser, web_local)
    open_image(browser, name)
    wait_until(browser, lambda d: "Not published" in css(d, "#publish-state").text, what="not published yet")
    css(browser, "#publish-button").click()
    wait_until(browser, lambda d: css(d, "#snippet-box").is_displayed(), timeout_s=60, what="the snippet")
    html = css(browser, "#snippet-html").get_attribute("value")
    assert html.startswith("<picture>") and "srcset=" in html and "sizes=" in html
    css(browser, '[data-copy="snippet-html"]').click()
    copied = wait_until(browser, lambda d: d.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], () => arguments[0](''))"), what="the clipboard")
    assert copied == html
    alt = css(browser, "#alt-text")
    alt.send_keys("A white lighthouse on a cliff at dawn")
    css(browser, "#alt-form button").click()
    wait_until(browser, lambda d: 'alt="A white lighthouse on a cliff at dawn"'
               in css(d, "#snippet-html").get_attribute("value"), what="the new alt in the snippet")


def test_upload_an_image_from_this_computer(browser, web_local, tmp_path):
    seed(web_local)
    from PIL import Image

    picture = tmp_path / "Brand Mark.png"
    Image.new("RGB", (120, 80), (200, 30, 30)).save(picture)
    open_page(browser, web_local)
    css(browser, '#posts button[data-post="53"]').click()
    wait_until(browser, lambda d: css_all(d, '#posts button.section[data-section="1"]'), what="the sections")[0].click()
    wait_until(browser, lambda d: css(d, "#upload-label").is_displayed(), what="the upload button")
    css(browser, "#upload").send_keys(str(picture))
    wait_until(browser, lambda d: css_all(d, '#gallery .thumb.fresh[data-name="Brand-Mark.png"]'),
               what="the imported image in the gallery")
    with web_local.client() as client:
        detail = client.get("/api/v1/posts/53/sections/1/images/Brand-Mark.png").json()
    assert detail["lineage"]["operation"] == "import" and detail["metadata"]["width"] == 120


def test_open_the_url_blog_images_serve_printed(browser, api_env, local_store_url):
    import os

    from tests.support.web import URL, Serve

    env = {**os.environ, "BLOG_IMAGES_STORE": local_store_url}
    env.pop("BLOG_IMAGES_SERVE_TOKEN", None)
    serve = Serve("--port", "0", env=env)
    try:
        printed = serve.wait_for(URL)
        browser.get(printed[0].removeprefix("open: "))
        wait_until(browser, lambda d: css(d, "#app").is_displayed(), what="the page the printed URL opens")
        assert browser.execute_script("return location.hash") == ""
        for name, value in {"post_id": "7", "section_id": "hero", "prompt": "A paper boat on a pond"}.items():
            css(browser, f'#gen-form [name="{name}"]').send_keys(value)
        css(browser, "#gen-submit").click()
        wait_until(browser, lambda d: css_all(d, '#job-list .job[data-status="stored"]'), timeout_s=60,
                   what="the job stored by the serve process")
        wait_until(browser, lambda d: css_all(d, "#gallery .thumb.fresh"), what="the new image in the gallery")
    finally:
        serve.stop()
