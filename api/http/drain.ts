/** Set by the API process once SIGTERM arrives: it still serves, but a load balancer must send nothing new. */
export interface Drain {
  draining: boolean;
}
