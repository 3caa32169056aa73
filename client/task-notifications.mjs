// laurel task notifications as an ES module. The code lives in
// task-notifications.js (one source of truth, also usable as a classic
// <script>); importing it defines the globals this module re-exports.
// Serve both files from the same directory. Documented in docs/client.md.
import "./task-notifications.js";

/** taskNotifications is the shared client instance (the global of the same name). */
export const taskNotifications = globalThis.taskNotifications;

/** create returns a new, independent client; see task-notifications.js for its options. */
export const create = globalThis.TaskNotifications.create;

export default taskNotifications;
