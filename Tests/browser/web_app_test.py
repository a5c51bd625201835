#!/usr/bin/env python3
"""Drives genred's web app in headless Chromium: the map is drawn, a click on a point plays it
and lists its neighbours. Run by WebAppBrowserTests against a real `genred serve`.

    web_app_test.py URL SCREENSHOT.png

Prints one line per check and exits 0 when all pass."""
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By


def wait_for(driver, what, script, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(script)
        if value:
            print(f"ok: {what} ({value})")
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; page says: "
                         + driver.execute_script("return document.getElementById('info').textContent"))


def main():
    url, screenshot = sys.argv[1], sys.argv[2]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,800", "--autoplay-policy=no-user-gesture-required", "--mute-audio"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url)
        count = wait_for(driver, "points drawn on the canvas", "return window.genred && window.genred.drawn")
        # The canvas really has coloured pixels, not only a count.
        painted = driver.execute_script("""
            const c = document.getElementById('map'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++; return n;""")
        assert painted > 0, "the canvas is blank"
        print(f"ok: {painted} painted pixels for {count} points")
        assert driver.find_elements(By.CSS_SELECTOR, "#map") and not driver.find_elements(By.CSS_SELECTOR, "#left svg circle")

        target = driver.execute_script("return window.genred.ids[0]")
        x, y = driver.execute_script(f"return window.genred.screenPosition({target})")
        canvas = driver.find_element(By.ID, "map")
        rect = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", canvas)
        # Selenium offsets are from the element's centre.
        ActionChains(driver).move_to_element_with_offset(canvas, x - rect["width"] / 2, y - rect["height"] / 2).click().perform()
        wait_for(driver, "the clicked track is the current one", f"return window.genred.playing === {target} && {target}")
        wait_for(driver, "audio loading from the server",
                 "const a = document.getElementById('audio');"
                 "return a.currentSrc.includes('/api/tracks/') && a.readyState >= 1 && a.currentSrc")
        wait_for(driver, "similar tracks listed", "return document.querySelectorAll('#similar li').length")
        wait_for(driver, "the timeline drawn as a heat strip",
                 "const c = document.getElementById('heat'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                 "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n")

        # A path between the first and last tracks of the map.
        driver.find_element(By.ID, "set-start").click()
        last = driver.execute_script("return window.genred.ids[window.genred.ids.length - 1]")
        driver.execute_script(f"return play({last})")
        wait_for(driver, "the second track playing", f"return window.genred.playing === {last} && {last}")
        driver.find_element(By.ID, "set-end").click()
        driver.execute_script("document.getElementById('path-count').value = 3")
        driver.find_element(By.ID, "path-go").click()
        wait_for(driver, "a path of 3 tracks listed", "return document.querySelectorAll('#path li').length === 3 && 3")

        driver.find_element(By.ID, "search").send_keys("groove")
        wait_for(driver, "search results listed", "return document.querySelectorAll('#results li').length")
        driver.save_screenshot(screenshot)
        print(f"ok: screenshot saved to {screenshot}")
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE" and "favicon" not in e.get("message", "")]
        assert not errors, f"console errors: {errors}"
        print("ok: no errors in the console")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
