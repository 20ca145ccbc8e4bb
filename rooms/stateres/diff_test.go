package stateres

import (
	"context"
	"reflect"
	"testing"
)

func TestDebugDiff(t *testing.T) {
	agree, differ, panics := 0, 0, 0
	for seed := int64(0); seed < 300; seed++ {
		ver := []string{"10", "11", "12"}[seed%3]
		c, err := generate(seed, genOpts{version: ver, members: 8, trunk: 6, forks: 2 + int(seed%3), actions: 6, stale: true})
		if err != nil {
			t.Fatal(err)
		}
		ours, err := Resolve(context.Background(), ver, c.sets, c.events)
		if err != nil {
			t.Fatal(err)
		}
		gm, err := gmslResolve(ver, c.sets, c.all)
		if err != nil {
			panics++
			continue
		}
		if reflect.DeepEqual(ours, gm) {
			agree++
		} else {
			differ++
		}
	}
	t.Logf("agree %d differ %d gmsl-panics %d", agree, differ, panics)
}
