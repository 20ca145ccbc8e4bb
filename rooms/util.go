package rooms

import "github.com/tidwall/gjson"

// gjsonString reads a string field of a JSON object, "" when absent.
func gjsonString(obj []byte, path string) string {
	return gjson.GetBytes(obj, path).Str
}
