/** The webhooks of this deployment (WebhooksRuntime: the store, the host policy, the dispatcher where the projector runs). */
export const WEBHOOKS = Symbol('WEBHOOKS');
