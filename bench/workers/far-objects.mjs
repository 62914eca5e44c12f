// The gateway as deployed far from its Durable Objects: every call to an object (Governor, UsageBuffer) waits
// BENCH_OBJECT_DELAY_MS first, as a Worker on another continent would. A bench-only wrapper module around the
// unchanged bundle (`./index.js`); nothing of it ships.
import gateway from "./index.js";
export * from "./index.js";

function far(ns, ms) {
  return {
    idFromName: (n) => ns.idFromName(n),
    idFromString: (s) => ns.idFromString(s),
    newUniqueId: (o) => ns.newUniqueId(o),
    get(id, o) {
      const stub = ns.get(id, o);
      return new Proxy(stub, {
        get(t, p) {
          if (typeof p !== "string" || p === "then") return t[p];
          // An RPC method: call it on the stub itself (`.apply` on an RPC property would be a remote call of "apply").
          return async (...args) => {
            await scheduler.wait(ms);
            return t[p](...args);
          };
        },
      });
    },
  };
}

// The runtime hands the same env to every request of the isolate; wrap it once (the gateway caches its config by it).
let seen;
let wrapped;
function farEnv(env) {
  if (seen !== env) {
    const ms = Number(env.BENCH_OBJECT_DELAY_MS ?? 50);
    wrapped = { ...env };
    for (const [name, value] of Object.entries(env)) {
      if (value && typeof value === "object" && typeof value.idFromName === "function") wrapped[name] = far(value, ms);
    }
    seen = env;
  }
  return wrapped;
}

export default {
  fetch: (request, env, ctx) => gateway.fetch(request, farEnv(env), ctx),
  scheduled: gateway.scheduled ? (event, env, ctx) => gateway.scheduled(event, farEnv(env), ctx) : undefined,
};
