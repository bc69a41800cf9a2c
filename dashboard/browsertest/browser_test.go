package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/brisk-rpc/brisk/client"
	"github.com/brisk-rpc/brisk/dashboard"
	"github.com/brisk-rpc/brisk/discovery"
	"github.com/brisk-rpc/brisk/internal/realsvc"
	"github.com/brisk-rpc/brisk/internal/testsvc"
	"github.com/brisk-rpc/brisk/server"
)

// chromiumPath is where Debian's chromium package puts the browser; the environment
// variable ChromiumEnv names another.
const (
	chromiumPath = "/usr/bin/chromium"
	ChromiumEnv  = "BRISK_CHROMIUM"
)

// ScreenshotCopyEnv, if set, names a file the test also writes its screenshot to (the one
// under t.TempDir is deleted with it), to look at the page by hand.
const ScreenshotCopyEnv = "BRISK_DASHBOARD_SCREENSHOT"

// browserBound bounds every wait on the browser: starting Chromium under make test's load
// can take a while, but nothing here should take longer.
const browserBound = 60 * time.Second

// findChromium returns the browser to run; without one the test fails under make test
// (BRISK_REQUIRE_SERVICES=1) and skips otherwise.
func findChromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv(ChromiumEnv)
	if path == "" {
		path = chromiumPath
		if _, err := os.Stat(path); err != nil {
			path = "chromium"
		}
	}
	found, err := exec.LookPath(path)
	if err != nil {
		realsvc.Missing(t, "headless Chromium (Debian's chromium package)", err)
	}
	return found
}

// load calls Arith.Mul in a loop (and every tenth call a failing Arith.Div) until stop is
// called, which waits for it to end. It counts the calls it made.
func load(t *testing.T, addr string) (calls *atomic.Int64, stop func()) {
	t.Helper()
	c := client.NewClient(client.DefaultOption)
	if err := c.Connect("tcp", addr); err != nil {
		t.Fatalf("load client: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls = new(atomic.Int64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			var r testsvc.Reply
			var err error
			if i%10 == 9 {
				err = c.Call(ctx, "Arith.Div", &testsvc.Args{A: 1, B: 0}, &r) // fails: an error to show
			} else {
				err = c.Call(ctx, "Arith.Mul", &testsvc.Args{A: i, B: 2}, &r)
			}
			if err != nil && ctx.Err() == nil && !client.IsServiceError(err) {
				t.Errorf("load call: %v", err)
				return
			}
			calls.Add(1)
			// A little pause keeps the load from taking a whole core from Chromium.
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return calls, func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			_ = c.Close()
		})
	}
}

// callsShown is a script that reads the call count the page shows for Arith.Mul (0 if
// there is no row yet).
const callsShown = `(() => {
  const row = [...document.querySelectorAll('#methods tbody tr')].find(r => r.dataset.key === 'Arith.Mul');
  return row ? (parseInt(row.querySelector('[data-f="calls"]').textContent, 10) || 0) : 0;
})()`

func TestDashboardInChromium(t *testing.T) {
	chromium := findChromium(t)
	start := time.Now()

	// A server with the stats collector, registered in a (static) registry.
	st := dashboard.NewStats()
	s := server.NewServer(server.WithMiddleware(st.Middleware()), server.WithConnHooks(st.ConnHooks()))
	if err := s.RegisterName("Arith", testsvc.NewArith(), "group=demo"); err != nil {
		t.Fatal(err)
	}
	addr := testsvc.Serve(t, s)
	reg, err := discovery.NewMultipleServers([]discovery.KVPair{{Key: "tcp@" + addr, Value: "group=demo&weight=3"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })

	// The dashboard on an admin HTTP port, under a prefix.
	admin := http.NewServeMux()
	admin.Handle("/debug/brisk/", http.StripPrefix("/debug/brisk",
		dashboard.New(s, st, dashboard.WithDiscoveries(map[string]discovery.Discovery{"Arith": reg}))))
	hs := httptest.NewServer(admin)
	t.Cleanup(hs.Close)

	calls, stopLoad := load(t, addr)
	t.Cleanup(stopLoad) // runs before the server closes (cleanups run last first)

	// Headless Chromium, as root in a container: no sandbox, no GPU, no /dev/shm.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	var logMu sync.Mutex
	var browserErrs []string
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		logMu.Lock()
		browserErrs = append(browserErrs, fmt.Sprintf(format, args...))
		logMu.Unlock()
	}))
	defer func() {
		// Close the browser gracefully, then wait for its process to end.
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_ = chromedp.Cancel(cctx)
		cancelBrowser()
		cancelAlloc()
	}()
	// The first Run starts the browser and must not have a deadline; bound the rest.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	tctx, cancel := context.WithTimeout(ctx, browserBound)
	defer cancel()
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(tctx, steps...); err != nil {
			logMu.Lock()
			defer logMu.Unlock()
			t.Fatalf("%s: %v (browser errors: %q)", what, err, browserErrs)
		}
	}

	// The page, without the trailing slash: the dashboard redirects to it.
	run("open the dashboard",
		chromedp.Navigate(hs.URL+"/debug/brisk"),
		chromedp.WaitVisible(chromedp.CSS("#methods")),
	)
	url, err := chromedp.Run(tctx, chromedp.Evaluate[string](`location.pathname`))
	if err != nil || url != "/debug/brisk/" {
		t.Errorf("the page is at %q (%v), want /debug/brisk/", url, err)
	}

	// The count moves: read it once it is shown, then wait for a larger one.
	first, err := chromedp.Run(tctx, chromedp.Poll[int](callsShown+` || false`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("the page never showed a call count for Arith.Mul: %v", err)
	}
	second, err := chromedp.Run(tctx, chromedp.Poll[int](fmt.Sprintf(`(n => n > %d ? n : false)(%s)`, first, callsShown),
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("the call count stayed at %d: %v", first, err)
	}
	if made := calls.Load(); int64(second) > made+1 {
		// +1: the count may include a call the load goroutine has not counted yet.
		t.Errorf("the page shows %d calls of Arith.Mul, more than the %d calls made", second, made)
	}
	t.Logf("Arith.Mul calls shown: %d, then %d", first, second)

	// The other live figures are there too.
	figures, err := chromedp.Run(tctx, chromedp.Evaluate[map[string]string](`(() => {
	  const row = [...document.querySelectorAll('#methods tbody tr')].find(r => r.dataset.key === 'Arith.Mul');
	  const f = n => row.querySelector('[data-f="' + n + '"]').textContent;
	  return {rate: f('rate'), p50: f('p50_ms'), p99: f('p99_ms'),
	          clients: document.getElementById('t-clients').textContent,
	          registry: document.getElementById('registry').textContent};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if figures["rate"] == "0.0" || figures["rate"] == "–" || figures["p50"] == "–" || figures["p99"] == "–" ||
		figures["clients"] == "0" || !strings.Contains(figures["registry"], "tcp@"+addr) ||
		!strings.Contains(figures["registry"], "this server") {
		t.Errorf("figures shown: %q", figures)
	}

	// A call through the form.
	run("call Arith.Mul through the form",
		chromedp.WaitVisible(chromedp.CSS("#call-form")),
		chromedp.SetValue(chromedp.CSS("#call-method"), "Arith.Mul"),
		chromedp.SetValue(chromedp.CSS("#call-args"), `{"A": 6, "B": 7}`),
		chromedp.Click(chromedp.CSS("#call-submit")),
	)
	result, err := chromedp.Run(tctx, chromedp.Poll[string](
		`(t => t.includes('42') ? t : false)(document.getElementById('call-result').textContent)`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		status, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.getElementById('call-status').textContent`))
		t.Fatalf("no reply shown (status %q): %v", status, err)
	}
	if !strings.Contains(result, `"C": 42`) {
		t.Errorf("reply shown %q, want it to hold \"C\": 42", result)
	}
	status, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.getElementById('call-status').textContent`))
	if err != nil || !strings.HasPrefix(status, "OK in ") {
		t.Errorf("call status %q (%v), want OK in …", status, err)
	}

	// A failing call shows the service's error.
	run("call Arith.Div by zero through the form",
		chromedp.SetValue(chromedp.CSS("#call-method"), "Arith.Div"),
		chromedp.SetValue(chromedp.CSS("#call-args"), `{"A": 1, "B": 0}`),
		chromedp.Click(chromedp.CSS("#call-submit")),
	)
	failure, err := chromedp.Run(tctx, chromedp.Poll[string](
		`(t => t.includes('divide by zero') ? t : false)(document.getElementById('call-status').textContent)`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("the failing call's error was not shown: %v", err)
	}
	if !strings.Contains(failure, "HTTP 500") {
		t.Errorf("failure shown %q", failure)
	}
	// Bad JSON is caught in the page.
	run("submit bad JSON",
		chromedp.SetValue(chromedp.CSS("#call-args"), `{"A": `),
		chromedp.Click(chromedp.CSS("#call-submit")),
	)
	if _, err := chromedp.Run(tctx, chromedp.Poll[string](
		`(t => t.includes('not valid JSON') ? t : false)(document.getElementById('call-status').textContent)`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Errorf("bad JSON in the form was not reported: %v", err)
	}
	// Put the successful call back for the screenshot.
	run("call Arith.Mul again",
		chromedp.SetValue(chromedp.CSS("#call-method"), "Arith.Mul"),
		chromedp.SetValue(chromedp.CSS("#call-args"), `{"A": 6, "B": 7}`),
		chromedp.Click(chromedp.CSS("#call-submit")),
	)
	if _, err := chromedp.Run(tctx, chromedp.Poll[string](
		`(t => t.includes('42') ? t : false)(document.getElementById('call-result').textContent)`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the second Mul call's reply was not shown: %v", err)
	}

	// A full-page screenshot: quality 100 makes it a PNG.
	shot, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	file := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(saved))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if _, err := png.Decode(bytes.NewReader(saved)); err != nil {
		t.Fatalf("the screenshot does not decode: %v", err)
	}
	if cfg.Width < 800 || cfg.Height < 600 || len(saved) < 10_000 {
		t.Errorf("screenshot %dx%d, %d bytes: too small to show the page", cfg.Width, cfg.Height, len(saved))
	}
	t.Logf("screenshot %s: %dx%d, %d bytes; test took %v", file, cfg.Width, cfg.Height, len(saved), time.Since(start).Round(time.Millisecond))
	if copyTo := os.Getenv(ScreenshotCopyEnv); copyTo != "" {
		if err := os.WriteFile(copyTo, saved, 0o644); err != nil {
			t.Errorf("copying the screenshot to %s: %v", copyTo, err)
		}
	}
	if errors.Is(tctx.Err(), context.DeadlineExceeded) {
		t.Error("the browser steps ran out of time")
	}
}
