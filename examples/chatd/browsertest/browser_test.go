package browsertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chatd is one chatd process.
type chatd struct {
	name string // Matrix server name, e.g. 127.0.0.1:40123
	url  string // https://127.0.0.1:40123/
	cmd  *exec.Cmd
}

var listening = regexp.MustCompile(`^chatd: server (\S+) listening on (https://\S+)`)

// buildChatd builds the chatd binary from this module's parent directory
// (which is in the homeserver module).
func buildChatd(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "chatd")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build chatd: %v\n%s", err, out)
	}
	return bin
}

// startChatd runs chatd on a free loopback port with its files in work;
// its log goes to <out>/<label>.log.
func startChatd(t *testing.T, bin, work, out, label, users string) *chatd {
	t.Helper()
	logFile, err := os.Create(filepath.Join(out, label+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-db", filepath.Join(work, label, "chatd.db"),
		"-users", users, "-insecure-skip-verify")
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &chatd{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !found {
				c.name, c.url, found = m[1], m[2], true
				ready <- nil
			}
		}
		if !found {
			ready <- fmt.Errorf("chatd %s exited before listening; see %s.log", label, label)
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("chatd %s did not start within 30 s", label)
	}
	t.Logf("chatd %s: server %s at %s", label, c.name, c.url)
	return c
}

// browser starts headless chromium with the flags that work in this
// sandbox-less container, and a fresh profile.
func browser(t *testing.T, ctx context.Context, dir string) context.Context {
	t.Helper()
	exe := os.Getenv("CHROMIUM")
	if exe == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				exe = p
				break
			}
		}
	}
	if exe == "" {
		t.Fatal("no chromium found: run ./run.sh (it installs Debian's chromium), or set CHROMIUM")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true), // chatd's self-signed pairs
		// Two pages run side by side: keep the one in the background awake.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(filepath.Join(dir, "chromium-profile")),
		chromedp.WindowSize(1400, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	return bctx
}

// page opens a tab on url, logging its console errors and exceptions.
func page(t *testing.T, browserCtx context.Context, who, url string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			t.Logf("%s's page: exception: %s", who, e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError || e.Type == runtime.APITypeWarning {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value))
				}
				t.Logf("%s's page: console.%s %s", who, e.Type, strings.Join(parts, " "))
			}
		}
	})
	if err := chromedp.Run(ctx, chromedp.Navigate(url), until(`document.querySelectorAll('#user option').length > 0`)); err != nil {
		t.Fatalf("%s: open %s: %v", who, url, err)
	}
	return ctx
}

// step runs browser actions and fails the test with what was being done.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	start := time.Now()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("ok %-62s %6s", what, time.Since(start).Round(time.Millisecond))
}

// until waits for a JavaScript expression to be true in the page.
func until(expr string) chromedp.Action {
	return chromedp.Poll(expr, nil, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))
}

// js quotes a string for a JavaScript expression.
func js(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// pickUser chooses the acting user in the page's picker.
func pickUser(name string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.SetValue(`#user`, name, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#user').dispatchEvent(new Event('change'))`, nil),
	}
}

// say types into the message box and sends it with Enter.
func say(text string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.WaitEnabled(`#text`, chromedp.ByQuery),
		chromedp.SendKeys(`#text`, text+"\r", chromedp.ByQuery),
	}
}

// hasMessage is true once the message list shows body.
func hasMessage(body string) string {
	return `[...document.querySelectorAll('#messages .msg .body')].some(e => e.textContent === ` + js(body) + `)`
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// outDir is where screenshots and logs go: $BROWSERTEST_OUT, or a new
// temporary directory that is kept after the test.
func outDir(t *testing.T) string {
	dir := os.Getenv("BROWSERTEST_OUT")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "chatd-browsertest-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestDMInTheBrowser(t *testing.T) {
	start := time.Now()
	out := outDir(t)
	work := t.TempDir()
	fmt.Printf("browsertest: screenshots and chatd logs in %s\n", out)
	t.Logf("screenshots and chatd logs in %s", out)

	bin := buildChatd(t, work)
	a := startChatd(t, bin, work, out, "a", "alice,carol")
	b := startChatd(t, bin, work, out, "b", "bob")
	alice, bob := "@alice:"+a.name, "@bob:"+b.name

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	br := browser(t, ctx, work)
	alicePage := page(t, br, "alice", a.url)
	bobPage := page(t, br, "bob", b.url)

	step(t, alicePage, "alice picks herself as the acting user",
		pickUser("alice"),
		until(`document.querySelector('#user').value === 'alice'`))
	step(t, bobPage, "bob picks himself as the acting user", pickUser("bob"))

	var roomID string
	step(t, alicePage, "alice types /federation dm "+bob,
		say("/federation dm "+bob),
		until(`!document.querySelector('#room-head').hidden && document.querySelector('#room-kind').textContent === 'DM'`),
		chromedp.Text(`#room-id`, &roomID, chromedp.ByQuery),
		until(`[...document.querySelectorAll('#members li[data-user]')].some(r => r.dataset.user === `+js(bob)+` && r.dataset.membership === 'invite' && r.dataset.inviteState === 'pending')`))
	t.Logf("room %s", roomID)

	invite := `#rooms li[data-room-id="` + roomID + `"]`
	step(t, bobPage, "bob sees the pending invite, origin "+a.name,
		until(`!!document.querySelector(`+js(invite+` button.accept`)+`)`),
		until(`document.querySelector(`+js(invite)+`).textContent.includes(`+js(a.name)+`)`),
		until(`document.querySelector(`+js(invite)+`).dataset.inviteState === 'pending'`))
	screenshot(t, bobPage, filepath.Join(out, "bob-invited.png"))

	step(t, bobPage, "bob accepts in his page",
		chromedp.Click(invite+` button.accept`, chromedp.ByQuery),
		until(`document.querySelector(`+js(invite)+`)?.dataset.membership === 'join'`),
		until(`!document.querySelector('#details').hidden`))

	step(t, alicePage, "alice sees bob joined",
		until(`[...document.querySelectorAll('#members li[data-user]')].some(r => r.dataset.user === `+js(bob)+` && r.dataset.membership === 'join' && r.dataset.inviteState === 'accepted')`))

	step(t, alicePage, "alice writes to bob", say("Hello Bob, this is Alice on A"))
	step(t, bobPage, "bob's page shows alice's message", until(hasMessage("Hello Bob, this is Alice on A")))

	step(t, bobPage, "bob types; alice's page says so",
		chromedp.SendKeys(`#text`, "Hi Alice", chromedp.ByQuery))
	step(t, alicePage, "alice sees bob typing",
		until(`document.querySelector('#typing').textContent.includes(`+js(bob)+`)`))
	step(t, bobPage, "bob sends his answer", chromedp.SendKeys(`#text`, ", Bob here on B\r", chromedp.ByQuery))
	step(t, alicePage, "alice's page shows bob's answer",
		until(hasMessage("Hi Alice, Bob here on B")),
		until(`!document.querySelector('#typing').textContent`))

	mine := `#messages .msg[data-sender="` + alice + `"]`
	step(t, alicePage, "alice sees bob's read receipt on her message",
		until(`[...document.querySelectorAll(`+js(mine+` .reader`)+`)].some(r => r.dataset.user === `+js(bob)+`)`),
		until(`document.querySelector(`+js(mine+` .read-by`)+`).textContent.includes('read by')`))
	step(t, bobPage, "bob sees alice read his answer",
		until(`[...document.querySelectorAll('#messages .msg[data-sender="`+bob+`"] .reader')].some(r => r.dataset.user === `+js(alice)+`)`))

	screenshot(t, alicePage, filepath.Join(out, "alice.png"))
	screenshot(t, bobPage, filepath.Join(out, "bob.png"))

	richMessages(t, alicePage, bobPage, out)
	profilesAndDirectory(t, alicePage, bobPage, alice, bob, b.name, out)
	t.Logf("screenshots in %s (whole test %s)", out, time.Since(start).Round(time.Millisecond))
}

// msgEl is a JavaScript expression for the message with that event ID in
// the page's list (undefined while it is not there).
func msgEl(eventID string) string {
	return `[...document.querySelectorAll('#messages .msg')].find(m => m.dataset.eventId === ` + js(eventID) + `)`
}

// click clicks, by script, the element sel inside the message eventID.
func click(eventID, sel string) chromedp.Action {
	return chromedp.Evaluate(`(`+msgEl(eventID)+`).querySelector(`+js(sel)+`).click()`, nil)
}

// idOf reads the event ID of the newest message whose body is body.
func idOf(body string, id *string) chromedp.Action {
	return chromedp.Tasks{
		until(hasMessage(body)),
		chromedp.Evaluate(`[...document.querySelectorAll('#messages .msg')].filter(m => m.querySelector('.body').textContent === `+js(body)+`).pop().dataset.eventId`, id),
	}
}

// richMessages continues the DM: alice replies to bob and edits her
// reply, bob reacts, alice deletes a message, and a formatted message
// full of script arrives sanitised and inert. Both pages show each step.
func richMessages(t *testing.T, alicePage, bobPage context.Context, out string) {
	pages := []struct {
		who string
		ctx context.Context
	}{{"alice", alicePage}, {"bob", bobPage}}
	onBoth := func(what string, exprs ...string) {
		t.Helper()
		for _, p := range pages {
			var actions []chromedp.Action
			for _, e := range exprs {
				actions = append(actions, until(e))
			}
			step(t, p.ctx, p.who+"'s page shows "+what, actions...)
		}
	}

	var bobsID, firstID, replyID string
	step(t, alicePage, "alice finds bob's answer and her first message",
		idOf("Hi Alice, Bob here on B", &bobsID), idOf("Hello Bob, this is Alice on A", &firstID))

	// 1. alice replies to bob, then edits her reply.
	step(t, alicePage, "alice clicks Reply on bob's answer and writes",
		click(bobsID, "button.reply"),
		until(`!document.querySelector('#composer-mode').hidden && document.querySelector('#composer-mode').dataset.mode === 'reply'`),
		say("Glad you made it"),
		idOf("Glad you made it", &replyID))
	quote := `(` + msgEl(replyID) + `)?.querySelector('.quote')?.dataset.replyTo === ` + js(bobsID) +
		` && (` + msgEl(replyID) + `).querySelector('.quote .quote-body').textContent === 'Hi Alice, Bob here on B'`
	onBoth("the reply with a quote of bob's answer", quote)

	step(t, alicePage, "alice edits her reply",
		click(replyID, "button.edit"),
		until(`document.querySelector('#composer-mode').dataset.mode === 'edit' && document.querySelector('#text').value === 'Glad you made it'`),
		chromedp.Evaluate(`document.querySelector('#text').value = ''`, nil),
		say("Glad you made it, Bob"))
	edited := `(` + msgEl(replyID) + `)?.querySelector('.body').textContent === 'Glad you made it, Bob'` +
		` && (` + msgEl(replyID) + `).querySelector('.meta .edited')?.textContent === '(edited)'` +
		` && (` + msgEl(replyID) + `).dataset.edited === 'true'`
	onBoth("the edited reply, marked (edited), still quoting", edited, quote)
	step(t, alicePage, "the edit is no message of its own",
		until(`document.querySelectorAll('#messages .msg').length === 3`))

	// 2. bob reacts to alice's reply.
	step(t, bobPage, "bob reacts 👍 to alice's reply", click(replyID, `button.react[data-key="👍"]`))
	reacted := `(` + msgEl(replyID) + `)?.querySelector('.reaction[data-key="👍"] .count')?.textContent === '1'`
	onBoth("bob's reaction counted once", reacted)
	step(t, alicePage, "alice adds hers: the count is 2",
		click(replyID, `.reaction[data-key="👍"]`),
		until(`(`+msgEl(replyID)+`)?.querySelector('.reaction[data-key="👍"] .count')?.textContent === '2'`))
	step(t, bobPage, "bob's page counts 2",
		until(`(`+msgEl(replyID)+`)?.querySelector('.reaction[data-key="👍"] .count')?.textContent === '2'`))

	// 3. alice deletes her first message (two clicks: ask, then delete).
	step(t, alicePage, "alice deletes her first message",
		click(firstID, "button.delete"),
		until(`(`+msgEl(firstID)+`).querySelector('button.delete').dataset.armed === 'true'`),
		click(firstID, "button.delete"))
	deleted := `(` + msgEl(firstID) + `)?.dataset.deleted === 'true' && (` + msgEl(firstID) + `).querySelector('.body').textContent === 'message deleted'`
	onBoth("\"message deleted\" in place of alice's first message", deleted)
	screenshot(t, alicePage, filepath.Join(out, "alice-rich.png"))
	screenshot(t, bobPage, filepath.Join(out, "bob-rich.png"))

	// 4. Formatting shows, through the sanitised HTML only: a formatted
	// body with <script> and onerror= runs nothing on either page.
	var roomID string
	step(t, bobPage, "bob's page arms its trap", chromedp.Evaluate(`window.pwned = false`, nil))
	step(t, alicePage, "alice sends a formatted message full of script (through the API)",
		chromedp.Evaluate(`window.pwned = false; document.querySelector('#room-id').textContent`, &roomID))
	send := `fetch('/api/rooms/' + encodeURIComponent(` + js(roomID) + `) + '/messages', {method: 'POST',
		headers: {'X-User': 'alice', 'Content-Type': 'application/json'},
		body: JSON.stringify({body: 'bold move', formatted_body: '<b>bold</b> move<script>window.pwned = true</script>' +
			'<img src="x" onerror="window.pwned = true"><a href="javascript:window.pwned = true">link</a>'})}).then(r => r.status)`
	var status int
	step(t, alicePage, "the API takes it", chromedp.Evaluate(send, &status, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	if status != 200 {
		t.Fatalf("POST formatted message: status %d", status)
	}
	formatted := `[...document.querySelectorAll('#messages .msg .body .html b')].some(b => b.textContent === 'bold')`
	inert := `window.pwned !== true && !document.querySelector('#messages script, #messages [onerror], #messages a[href^="javascript"]')`
	onBoth("the formatting, and nothing ran", formatted, inert)
	// Give a late onerror a moment to run, if any did.
	time.Sleep(500 * time.Millisecond)
	onBoth("still nothing ran", inert)
	screenshot(t, alicePage, filepath.Join(out, "alice-formatted.png"))
	screenshot(t, bobPage, filepath.Join(out, "bob-formatted.png"))
}

// fill sets an input's value, as typing would.
func fill(sel, value string) chromedp.Action {
	return chromedp.Evaluate(`document.querySelector(`+js(sel)+`).value = `+js(value), nil)
}

// submit submits a form by script.
func submit(sel string) chromedp.Action {
	return chromedp.Evaluate(`document.querySelector(`+js(sel)+`).requestSubmit()`, nil)
}

// profilesAndDirectory continues on the same pages: bob sets a display
// name and alice's page shows it (the user ID on hover, an initial-letter
// avatar, never a remote image); then bob publishes a channel with an
// alias, and alice finds it in B's directory from her page and joins it.
func profilesAndDirectory(t *testing.T, alicePage, bobPage context.Context, alice, bob, serverB, out string) {
	step(t, bobPage, "bob sets his display name in the profile editor",
		fill(`#profile-name`, "Bob the Builder"),
		fill(`#profile-avatar`, "mxc://"+serverB+"/bobface"),
		submit(`#profile-form`),
		until(`document.querySelector('#me-card').dataset.displayname === 'Bob the Builder'`))
	// The presence bob got on picking himself went out before he shared
	// a room with A; setting it now reaches A.
	step(t, bobPage, "bob sets his presence and status in the editor",
		chromedp.SetValue(`#presence`, "online", chromedp.ByQuery),
		fill(`#status-msg`, "building"),
		submit(`#presence-form`))
	bobLine := `document.querySelector('#members li[data-user="` + bob + `"]')`
	step(t, alicePage, "alice's member list shows bob's display name, his ID on hover, an initial, his presence",
		until(bobLine+`?.dataset.displayname === 'Bob the Builder'`),
		until(bobLine+`.querySelector('.person .name').textContent === 'Bob the Builder'`),
		until(bobLine+`.querySelector('.person .name').title === `+js(bob)),
		until(bobLine+`.querySelector('.avatar').textContent.startsWith('B')`),
		until(bobLine+`.dataset.presence === 'online' && !!`+bobLine+`.querySelector('.dot.online')`),
		until(bobLine+`.querySelector('.status')?.textContent === 'building'`))
	step(t, alicePage, "bob's messages carry his name too",
		until(`[...document.querySelectorAll('#messages .msg[data-sender="`+bob+`"] .sender')].every(e => e.textContent === 'Bob the Builder' && e.title === `+js(bob)+`)`),
		until(`document.querySelectorAll('#messages .msg[data-sender="`+bob+`"] .sender').length > 0`),
		until(`document.querySelectorAll('img').length === 0`))
	screenshot(t, alicePage, filepath.Join(out, "alice-profile.png"))

	alias := "#builders:" + serverB
	step(t, bobPage, "bob creates a public channel, gives it an alias and publishes it",
		fill(`#new-name`, "Builders"),
		fill(`#new-topic`, "We build things"),
		chromedp.SetValue(`#new-join-rule`, "public", chromedp.ByQuery),
		submit(`#new-room`),
		until(`document.querySelector('#room-name').textContent === 'Builders' && !document.querySelector('#details').hidden`),
		fill(`#alias-input`, "builders"),
		submit(`#alias-form`),
		chromedp.Evaluate(`document.querySelector('#publish').click()`, nil),
		// Bob's own directory lists it once both calls are done.
		fill(`#dir-q`, "build"),
		chromedp.Poll(`!!document.querySelector('#directory li[data-alias="`+alias+`"]') || (document.querySelector('#directory-form').requestSubmit(), false)`,
			nil, chromedp.WithPollingInterval(500*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))

	room := `#directory li[data-alias="` + alias + `"]`
	step(t, alicePage, "alice searches B's directory from her page and finds bob's room",
		fill(`#dir-server`, serverB),
		fill(`#dir-q`, "build"),
		submit(`#directory-form`),
		until(`!!document.querySelector(`+js(room)+`)`),
		until(`document.querySelector(`+js(room+` .title`)+`).textContent === 'Builders'`),
		until(`document.querySelector(`+js(room)+`).textContent.includes('1 members')`))
	screenshot(t, alicePage, filepath.Join(out, "alice-directory.png"))
	step(t, alicePage, "alice clicks Join and is in the room",
		chromedp.Evaluate(`document.querySelector(`+js(room+` button.join`)+`).click()`, nil),
		until(`document.querySelector('#room-name').textContent === 'Builders' && !document.querySelector('#details').hidden`),
		until(`[...document.querySelectorAll('#members li[data-user]')].some(r => r.dataset.user === `+js(alice)+` && r.dataset.membership === 'join')`),
		until(`[...document.querySelectorAll('#rooms li')].some(r => r.querySelector('.title').textContent === 'Builders' && r.dataset.membership === 'join')`))
	step(t, bobPage, "bob's page shows alice joined his room",
		until(`[...document.querySelectorAll('#members li[data-user]')].some(r => r.dataset.user === `+js(alice)+` && r.dataset.membership === 'join')`))
	screenshot(t, alicePage, filepath.Join(out, "alice-joined.png"))
	screenshot(t, bobPage, filepath.Join(out, "bob-joined.png"))
}
