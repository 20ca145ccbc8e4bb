// Package browsertest drives chatd's web page in headless Debian chromium:
// two chatd processes on loopback, alice on A starts a DM with bob on B
// from her page, bob accepts in his, they talk, and alice sees bob's read
// receipt; then alice replies to bob and edits her reply, bob reacts,
// alice deletes a message, and a formatted message full of script shows
// its formatting and runs nothing, each step checked on both pages; bob
// sets a display name and alice's page shows it, and alice finds bob's
// published room in B's directory and joins it. It is
// its own Go module so that the homeserver library never
// depends on chromedp.
//
//	./run.sh            # installs chromium if missing, then runs the test
package browsertest
