package devserver

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
)

// PBKDF2Iterations is the iteration count of Django 5.2's
// PBKDF2PasswordHasher (django/contrib/auth/hashers.py).
const PBKDF2Iterations = 1_000_000

// randomStringChars is django.utils.crypto.RANDOM_STRING_CHARS.
const randomStringChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// RandomString is django.utils.crypto.get_random_string(n, allowed): n
// characters drawn uniformly from allowed with a CSPRNG. allowed must hold
// at most 256 characters.
func RandomString(n int, allowed string) string {
	b := make([]byte, n)
	limit := 256 - 256%len(allowed) // reject bytes that would bias the draw
	var buf [1]byte
	for i := range b {
		for {
			_, _ = rand.Read(buf[:])
			if int(buf[0]) < limit {
				b[i] = allowed[int(buf[0])%len(allowed)]
				break
			}
		}
	}
	return string(b)
}

// NewSalt returns a salt as BasePasswordHasher.salt() makes it: 22
// characters of RANDOM_STRING_CHARS (at least 128 bits of entropy).
func NewSalt() string { return RandomString(22, randomStringChars) }

// MakePassword is PBKDF2PasswordHasher.encode(password, salt, iterations):
// "pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte
// PBKDF2-HMAC-SHA256 key>". Django's make_password(password, salt) gives the
// same string for iterations = PBKDF2Iterations. salt must not contain "$".
func MakePassword(password, salt string, iterations int) string {
	dk, err := pbkdf2.Key(sha256.New, password, []byte(salt), iterations, sha256.Size)
	if err != nil {
		panic("devserver: pbkdf2: " + err.Error()) // only for FIPS-invalid parameters
	}
	return "pbkdf2_sha256$" + strconv.Itoa(iterations) + "$" + salt + "$" + base64.StdEncoding.EncodeToString(dk)
}

// CheckPassword reports whether password matches a pbkdf2_sha256 encoded
// hash, as django.contrib.auth.hashers.check_password does for that
// algorithm. Other algorithms, unusable passwords ("!...") and malformed
// hashes never match. The comparison is constant-time.
func CheckPassword(password, encoded string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2_sha256" {
		return false
	}
	iterations, err := strconv.Atoi(parts[1])
	if err != nil || iterations <= 0 || iterations > 100_000_000 {
		return false
	}
	got := MakePassword(password, parts[2], iterations)
	return subtle.ConstantTimeCompare([]byte(got), []byte(encoded)) == 1
}
