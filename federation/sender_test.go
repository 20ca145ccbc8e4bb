package federation

import (
	"testing"
	"time"

	"github.com/embedmatrix/homeserver/storage"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

func TestBackoff(t *testing.T) {
	for n := 1; n <= 40; n++ {
		want := minBackoff << (n - 1)
		if n > 30 || want > maxBackoff || want <= 0 {
			want = maxBackoff
		}
		for range 50 {
			got := backoff(n)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, got, want/2, want)
			}
		}
	}
	if backoff(100) > time.Hour {
		t.Fatal("backoff exceeds an hour")
	}
	// Jitter: not every draw is the same.
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[backoff(5)] = true
	}
	if len(seen) < 2 {
		t.Fatal("backoff has no jitter")
	}
}

func TestKeyValidity(t *testing.T) {
	cases := map[string]struct {
		key  storage.RemoteKey
		at   int64
		want bool
	}{
		"current key before valid_until_ts": {storage.RemoteKey{ValidUntilTS: 1000}, 999, true},
		"current key at valid_until_ts":     {storage.RemoteKey{ValidUntilTS: 1000}, 1000, true},
		"current key after valid_until_ts":  {storage.RemoteKey{ValidUntilTS: 1000}, 1001, false},
		"old key before it expired":         {storage.RemoteKey{ValidUntilTS: 5000, ExpiredTS: 2000}, 1500, true},
		"old key after it expired":          {storage.RemoteKey{ValidUntilTS: 5000, ExpiredTS: 2000}, 2500, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := keyValidAt(c.key, spec.Timestamp(c.at)); got != c.want {
				t.Fatalf("keyValidAt = %v, want %v", got, c.want)
			}
		})
	}
}
