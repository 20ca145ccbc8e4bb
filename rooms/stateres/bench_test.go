package stateres

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchRooms caches the generated room of one size across sub-benchmarks
// (ours and gmsl run on the same input); other sizes are dropped so that a
// big cached room does not slow the garbage collector for small ones.
var (
	benchMu    sync.Mutex
	benchRooms = map[string]*genCase{}
)

// benchRoom builds (once) a version 11 room with the given members and
// forks, about 1% of the members conflicted across the forks.
func benchRoom(tb testing.TB, members, forks int) *genCase {
	benchMu.Lock()
	defer benchMu.Unlock()
	key := fmt.Sprint(members, "/", forks)
	if c, ok := benchRooms[key]; ok {
		return c
	}
	conflicts := members / 100 / forks
	if conflicts < 1 {
		conflicts = 1
	}
	start := time.Now()
	c, err := generate(int64(members*10+forks), genOpts{version: "11", members: members, trunk: 20, forks: forks, conflicts: conflicts})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("generated %d members, %d forks: %d events in %v", members, forks, len(c.all), time.Since(start))
	clear(benchRooms)
	benchRooms[key] = c
	runtime.GC()
	return c
}

// BenchmarkResolve resolves generated rooms of 100 to 100,000 members with
// 2 and 5 forks (about 1% of the members conflicted) with our resolver
// ("ours") and gomatrixserverlib's spec-correct one ("gmsl") on the same
// input. gmsl is skipped where one resolution would take more than ~30 s;
// STATERES_BENCH_MAX caps the member count (default 100000).
func BenchmarkResolve(b *testing.B) {
	maxMembers := envInt("STATERES_BENCH_MAX", 100000)
	gmslMax := envInt("STATERES_BENCH_GMSL_MAX", 10000)
	for _, members := range []int{100, 1000, 10000, 100000} {
		if members > maxMembers {
			continue
		}
		for _, forks := range []int{2, 5} {
			name := fmt.Sprintf("members=%d/forks=%d", members, forks)
			b.Run("ours/"+name, func(b *testing.B) {
				c := benchRoom(b, members, forks)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := Resolve(context.Background(), c.version, c.sets, c.events); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("gmsl/"+name, func(b *testing.B) {
				if members > gmslMax {
					b.Skipf("gomatrixserverlib takes too long at %d members (set STATERES_BENCH_GMSL_MAX)", members)
				}
				c := benchRoom(b, members, forks)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := gmslResolve(c.version, c.sets, c.all); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSplit times the division into unconflicted and conflicted
// state on BenchmarkResolve's rooms, comparing by address and by content,
// to place byAddressMin.
func BenchmarkSplit(b *testing.B) {
	maxMembers := envInt("STATERES_BENCH_MAX", 100000)
	for _, members := range []int{1000, 3000, 10000, 30000, 100000} {
		if members > maxMembers {
			continue
		}
		for _, forks := range []int{2, 5} {
			for _, way := range []string{"address", "content"} {
				b.Run(fmt.Sprintf("members=%d/forks=%d/%s", members, forks, way), func(b *testing.B) {
					c := benchRoom(b, members, forks)
					byAddressMin = 0
					if way == "content" {
						byAddressMin = 1 << 62
					}
					defer func() { byAddressMin = defaultByAddressMin }()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						split(c.sets)
					}
				})
			}
		}
	}
}
