// The physical limit: a Worker that only forwards the request to the same upstream the gateway calls.
// It strips the gateway's `/genai` prefix and the `provider/` part of the model, so both hit the same upstream path.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const path = url.pathname.replace(/^\/genai/, "").replace(/\/models\/[^/:]+\//, "/models/");
    return fetch(new Request(env.UPSTREAM + path + url.search, request));
  },
};
