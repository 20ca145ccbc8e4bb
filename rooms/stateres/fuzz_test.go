package stateres

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// FuzzResolve generates a room with forks from the fuzzer's seed and
// shape, optionally hides some of its events from the event source, and
// checks that Resolve neither fails nor panics, does not depend on the
// order of the sets, and, with every event known, either agrees with
// gomatrixserverlib's spec-correct resolver or differs in a known way.
//
//	go test -run XXX -fuzz FuzzResolve ./rooms/stateres/
func FuzzResolve(f *testing.F) {
	for seed := int64(0); seed < 16; seed++ {
		f.Add(seed, uint16(seed*37), uint8(0))
	}
	f.Add(int64(874), uint16(0), uint8(0))
	f.Add(int64(5), uint16(999), uint8(3))
	f.Fuzz(func(t *testing.T, seed int64, shape uint16, hide uint8) {
		o := genOpts{
			version: []string{"10", "11", "12"}[shape%3],
			members: 2 + int(shape/3%12),
			trunk:   int(shape / 36 % 8),
			forks:   2 + int(shape/288%4),
			actions: 1 + int(shape/1152%8),
			stale:   shape%2 == 0,
		}
		c, err := generate(seed, o)
		if err != nil {
			t.Skip(err)
		}
		src := c.events
		if hide > 0 {
			src = MapEvents{}
			for i, ev := range c.all {
				if (i*7+int(hide))%(int(hide)+2) != 0 {
					src[ev.EventID()] = ev
				}
			}
		}
		got, err := Resolve(context.Background(), c.version, c.sets, src)
		if err != nil {
			t.Fatal(err)
		}
		rev := make([]StateMap, len(c.sets))
		for i, s := range c.sets {
			rev[len(c.sets)-1-i] = s
		}
		again, err := Resolve(context.Background(), c.version, rev, src)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, again) {
			t.Fatal("result depends on the order of the sets")
		}
		if hide > 0 {
			return
		}
		gm, gerr := gmslResolve(c.version, c.sets, c.all)
		if gerr == nil && reflect.DeepEqual(got, gm) {
			return
		}
		if class := classify(c, gm, gerr); strings.Contains(class, "unexplained") {
			t.Fatalf("disagreement with gomatrixserverlib that no known quirk explains")
		}
	})
}
