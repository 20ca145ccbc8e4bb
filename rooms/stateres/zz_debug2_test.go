package stateres

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func describe(c *genCase, id string) string {
	ev := c.events[id]
	if ev == nil {
		return id + "?"
	}
	var auth []string
	for _, a := range ev.AuthEventIDs() {
		auth = append(auth, a[:6])
	}
	return fmt.Sprintf("%s %s[%s] by %s ts=%d %s auth=%v", id[:6], ev.Type(), *ev.StateKey(), ev.SenderID(), ev.OriginServerTS(), string(ev.Content()), auth)
}

func TestDebugDiff2(t *testing.T) {
	shown := 0
	for seed := int64(37); seed < 38 && shown < 4; seed++ {
		ver := []string{"10", "11", "12"}[seed%3]
		c, _ := generate(seed, genOpts{version: ver, members: 8, trunk: 6, forks: 2 + int(seed%3), actions: 6, stale: true})
		ours, _ := Resolve(context.Background(), ver, c.sets, c.events)
		gm, err := gmslResolve(ver, c.sets, c.all)
		if err != nil || reflect.DeepEqual(ours, gm) {
			continue
		}
		shown++
		var b strings.Builder
		fmt.Fprintf(&b, "seed %d v%s\n", seed, ver)
		_, conflicted, _ := split(c.sets)
		for _, id := range conflicted {
			fmt.Fprintf(&b, "  C %s\n", describe(c, id))
		}
		var keys []string
		for k := range ours { keys = append(keys, k.Type+"|"+k.StateKey) }
		for k := range gm { if _, ok := ours[k]; !ok { keys = append(keys, k.Type+"|"+k.StateKey) } }
		sort.Strings(keys)
		for _, ks := range keys {
			p := strings.SplitN(ks, "|", 2)
			k := StateKey{p[0], p[1]}
			if ours[k] != gm[k] {
				fmt.Fprintf(&b, "  key %v ours=%.6s gmsl=%.6s\n", k, ours[k], gm[k])
			}
		}
		for _, ev := range c.all {
			fmt.Fprintf(&b, "  E %s\n", describe(c, ev.EventID()))
		}
		_ = json.Valid
		t.Log(b.String())
	}
}
