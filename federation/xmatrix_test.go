package federation

import "testing"

func TestParseXMatrix(t *testing.T) {
	cases := map[string]struct {
		header  string
		want    XMatrix
		wantErr bool
	}{
		"spec example": {
			header: `X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF..."`,
			want:   XMatrix{Origin: "origin.hs.example.com", Destination: "destination.hs.example.com", Key: "ed25519:key1", Sig: "ABCDEF..."},
		},
		"ports and IPv6 literals": {
			header: `X-Matrix origin="[::1]:8448",destination="localhost:8448",key="ed25519:a_b",sig="c2ln"`,
			want:   XMatrix{Origin: "[::1]:8448", Destination: "localhost:8448", Key: "ed25519:a_b", Sig: "c2ln"},
		},
		"unquoted tokens, spaces around commas, any order, any case": {
			header: "X-Matrix  sig=c2ln ,\tKEY=\"ed25519:1\" , Origin=example.org:8448",
			want:   XMatrix{Origin: "example.org:8448", Key: "ed25519:1", Sig: "c2ln"},
		},
		"quoted comma and escape": {
			header: `X-Matrix origin="a.example",key="ed25519:1",sig="x\"y,z",extra="ignored, really"`,
			want:   XMatrix{Origin: "a.example", Key: "ed25519:1", Sig: `x"y,z`},
		},
		"missing sig":           {header: `X-Matrix origin="a",key="ed25519:1"`, wantErr: true},
		"unterminated quote":    {header: `X-Matrix origin="a,key="ed25519:1",sig="x`, wantErr: true},
		"other scheme":          {header: `Bearer abc`, wantErr: true},
		"parameter w/o value":   {header: `X-Matrix origin`, wantErr: true},
		"empty after scheme":    {header: `X-Matrix `, wantErr: true},
		"scheme only, no space": {header: `X-Matrix`, wantErr: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseXMatrix(c.header)
			if c.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func FuzzParseXMatrix(f *testing.F) {
	f.Add(`X-Matrix origin="a.example:8448",destination="b",key="ed25519:1",sig="abc"`)
	f.Add(`X-Matrix origin=a,key=b,sig="\\"`)
	f.Fuzz(func(t *testing.T, h string) {
		x, err := ParseXMatrix(h)
		if err == nil && (x.Origin == "" || x.Key == "" || x.Sig == "") {
			t.Fatalf("accepted %q without origin, key or sig", h)
		}
	})
}
