// The app's entry. With the full toolchain (`npm install && npx vite build`) this mounts a Vue app; the offline
// build script (scripts/build.mjs) bundles it as-is with a tiny render fallback so no download is needed.
const root = document.getElementById('app');
const state = { count: 0 };
function render() {
  root.innerHTML = `<h1>vue-app</h1><button id="inc">clicked ${state.count} times</button>`;
  document.getElementById('inc').onclick = () => { state.count += 1; render(); };
}
render();
