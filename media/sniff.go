package media

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// SniffLength is how many leading bytes CheckContentType looks at.
const SniffLength = 512

// CheckContentType compares a claimed content type with what the first
// bytes of the content (head, SniffLength is enough) really are, and
// returns the content type to store and serve.
//
// A claim of image/*, video/* or audio/* must agree with the bytes' family
// (an HTML page claiming image/png is refused with ErrContentTypeMismatch);
// the detected type is returned when it is more precise than the claim.
// A generic claim (empty or application/octet-stream) is allowed for any
// bytes, and becomes the detected media type when the bytes are an image,
// video or audio. Other claims (application/pdf, text/plain...) are kept:
// they are served as attachments.
func CheckContentType(claimed string, head []byte) (string, error) {
	if len(head) > SniffLength {
		head = head[:SniffLength]
	}
	detected := Sniff(head)
	claim := "application/octet-stream"
	if strings.TrimSpace(claimed) != "" {
		t, _, err := mime.ParseMediaType(claimed)
		if err != nil || !strings.Contains(t, "/") {
			return "", fmt.Errorf("%w: unparsable content type %q", ErrContentTypeMismatch, truncate(claimed, 60))
		}
		claim = t // lowercased, parameters dropped
	}
	family := topLevel(claim)
	switch {
	case claim == "application/octet-stream":
		if isMedia(topLevel(detected)) {
			return detected, nil
		}
		return claim, nil
	case claim == "image/svg+xml":
		// SVG is XML text that the generic sniffer cannot name.
		if (strings.HasPrefix(detected, "text/xml") || strings.HasPrefix(detected, "text/plain")) &&
			bytes.Contains(bytes.ToLower(head), []byte("<svg")) {
			return claim, nil
		}
		return "", fmt.Errorf("%w: claimed %s, bytes are %s", ErrContentTypeMismatch, claim, detected)
	case isMedia(family):
		for _, f := range families(detected) {
			if f == family {
				if topLevel(detected) == family {
					return detected, nil
				}
				return claim, nil
			}
		}
		return "", fmt.Errorf("%w: claimed %s, bytes are %s", ErrContentTypeMismatch, claim, detected)
	}
	return claim, nil
}

// Sniff names the content type of the leading bytes: net/http's sniffer,
// plus the ISO-BMFF (ftyp) brands it does not know (AVIF, HEIC, QuickTime,
// M4A) and FLAC. It returns a bare type without parameters.
func Sniff(head []byte) string {
	if len(head) >= 12 && string(head[4:8]) == "ftyp" {
		switch brand := string(head[8:12]); brand {
		case "avif", "avis":
			return "image/avif"
		case "heic", "heix", "heim", "heis", "mif1", "msf1":
			return "image/heic"
		case "M4A ", "M4B ":
			return "audio/mp4"
		case "qt  ":
			return "video/quicktime"
		}
	}
	if bytes.HasPrefix(head, []byte("fLaC")) {
		return "audio/flac"
	}
	t := http.DetectContentType(head)
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	return strings.TrimSpace(t)
}

// families lists the top-level types a detected type may honestly be
// claimed as: an Ogg or WebM container holds audio or video.
func families(detected string) []string {
	switch detected {
	case "application/ogg", "video/webm", "video/mp4":
		return []string{"audio", "video"}
	}
	return []string{topLevel(detected)}
}

func topLevel(t string) string {
	top, _, _ := strings.Cut(t, "/")
	return top
}

func isMedia(top string) bool {
	return top == "image" || top == "video" || top == "audio"
}
