// Package browsertest drives the dashboard in headless Chromium (Debian's chromium
// package, which scripts/services.sh installs): a server under load, its dashboard opened
// in the browser, the call counts checked to move, a method called through the form, and a
// screenshot of the page saved. It is a separate module so that chromedp stays out of
// brisk's own dependencies.
package browsertest
