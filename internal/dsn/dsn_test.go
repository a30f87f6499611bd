package dsn

import "testing"

func TestPassword(t *testing.T) {
	tests := []struct{ dsn, pw string }{
		{"postgres://app:s3cr#et@db:5432/app", "s3cr#et"},
		{"postgresql://app:a@b@db/app?sslmode=disable", "a@b"},
		{"postgres://app@db/app", ""},
		{"postgres://db/app?user=app&password=pw%ZZ&sslmode=disable", "pw%ZZ"},
		{"host=db user=app password=s3cr et dbname=app", "s3cr et"},
		{"host=db password='a b' dbname=app", "'a b'"},
		{"password=last", "last"},
		{"root:pw/x@y@tcp(db:3306)/app?parseTime=true", "pw/x@y"},
		{"root:pw@unix(/tmp/s)/app", "pw"},
		{"root@tcp(db)/app", ""},
	}
	for _, tt := range tests {
		pw, _, _, ok := Password(tt.dsn)
		if pw != tt.pw || ok != (tt.pw != "") {
			t.Errorf("Password(%q) = %q, %v; want %q", tt.dsn, pw, ok, tt.pw)
		}
	}
	if got := Redacted("postgres://app:s3cr#et@db:5432/app"); got != "postgres://app:xxxxx@db:5432/app" {
		t.Errorf("Redacted = %q", got)
	}
}
