// The probot anchor of bench/ingress: probot verifies each signed webhook and runs this empty
// handler. Nothing is stored, so it is the "not durable" reference the bot's server is held to.
export default (app) => {
  app.on("issues.labeled", async () => {});
};
