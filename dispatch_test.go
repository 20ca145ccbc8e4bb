package homeserver

import (
	"context"
	"testing"
)

func TestDispatcherSurvivesPanickingHook(t *testing.T) {
	d := newDispatcher(nil)
	got := make(chan int, 3)
	d.push(func(context.Context) { got <- 1 })
	d.push(func(context.Context) { panic("host bug") })
	d.push(func(context.Context) { got <- 3 })
	d.close()
	if len(got) != 2 || <-got != 1 || <-got != 3 {
		t.Fatal("hooks around a panicking one did not run in order")
	}
}
