package bench

import "testing"

func TestIntField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, frame, key string
		want             int64
		ok               bool
	}{
		{"python json.dumps", `{"type": "task_update", "task_id": "x", "seq": 42, "ts": 1764123456789012345}`, `"ts":`, 1764123456789012345, true},
		{"seq", `{"type": "task_update", "seq": 42, "ts": 1}`, `"seq":`, 42, true},
		{"compact", `{"seq":7,"ts":9}`, `"seq":`, 7, true},
		{"absent", `{"type": "error"}`, `"seq":`, 0, false},
		{"not a number", `{"seq": "a"}`, `"seq":`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := intField([]byte(tc.frame), tc.key)
			if got != tc.want || ok != tc.ok {
				t.Errorf("intField = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func BenchmarkIntField(b *testing.B) {
	b.ReportAllocs()
	frame := []byte(`{"type": "task_update", "task_id": "task_bench-1", "status": "processing", "seq": 42, "ts": 1764123456789012345}`)
	for b.Loop() {
		if _, ok := intField(frame, `"ts":`); !ok {
			b.Fatal("no ts")
		}
	}
}
