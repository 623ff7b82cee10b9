// Shared test setup: every suite runs on the backend gradus picks by default (wasm in Node),
// unless GRADUS_BACKEND says otherwise.
