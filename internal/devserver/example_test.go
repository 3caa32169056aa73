package devserver_test

import (
	"fmt"

	"github.com/laurel-server/laurel/channelsproto"
	"github.com/laurel-server/laurel/internal/devserver"
)

func ExampleMakePassword() {
	// What Django's make_password("demo", "aaaaaaaaaaaaaaaaaaaaaa") writes with 1000 iterations.
	encoded := devserver.MakePassword("demo", "aaaaaaaaaaaaaaaaaaaaaa", 1000)
	fmt.Println(encoded)
	fmt.Println(devserver.CheckPassword("demo", encoded), devserver.CheckPassword("Demo", encoded))
	// Output:
	// pbkdf2_sha256$1000$aaaaaaaaaaaaaaaaaaaaaa$eNaTXbs+NatzK/n3UEdFy0aMS3w1fnCxwYmzy0ADEzo=
	// true false
}

func ExampleUpdateEvent() {
	// The event a simulated task group_sends to task_<id>, as json.dumps shows it.
	b, _ := channelsproto.MarshalPythonJSON(devserver.UpdateEvent("42", 3, 9))
	fmt.Println(devserver.TaskGroup("42"), string(b))
	// Output: task_42 {"type": "task.update", "task_id": "42", "status": "processing", "message": "Processing step 3 of 9...", "progress": 30}
}
