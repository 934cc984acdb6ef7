// The official `openai` npm package against threadline, unmodified: one scenario per run,
// its observations printed as one JSON object. Usage: node openai_client.mjs BASE_URL SCENARIO
import OpenAI from "openai";

const [baseURL, scenario] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 30_000 });

const lookup = {
  type: "function",
  name: "lookup",
  description: "Look a word up.",
  parameters: {
    type: "object",
    properties: { word: { type: "string" } },
    required: ["word"],
  },
};

const scenarios = {
  async create() {
    const response = await client.responses.create({ model: "assistant", input: "say hello world" });
    return { status: response.status, text: response.output_text, id: response.id };
  },

  async stream() {
    // The SDK's stream helper rebuilds the response from the events, so it checks them too.
    const stream = client.responses.stream({ model: "assistant", input: "say streamed to you" });
    const types = [];
    const deltas = [];
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") deltas.push(event.delta);
    }
    const response = await stream.finalResponse();
    const text = response.output
      .filter((item) => item.type === "message")
      .flatMap((item) => item.content.map((part) => part.text))
      .join("");
    return { types, deltas, text, status: response.status };
  },

  async conversation() {
    const conversation = await client.conversations.create({
      items: [{ type: "message", role: "user", content: "remember the number 7" }],
    });
    const response = await client.responses.create({
      model: "assistant",
      conversation: conversation.id,
      input: "say noted",
    });
    const items = [];
    for await (const item of client.conversations.items.list(conversation.id, { order: "asc" })) {
      items.push([item.type, item.role ?? null, item.content?.[0]?.text ?? null]);
    }
    return { conversation: conversation.id, text: response.output_text, items };
  },

  async function_tool() {
    const first = await client.responses.create({
      model: "assistant",
      input: 'client lookup {"word":"threadline"}',
      tools: [lookup],
    });
    const call = first.output.find((item) => item.type === "function_call");
    const second = await client.responses.create({
      model: "assistant",
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: "a durable thread" }],
      tools: [lookup],
    });
    return {
      call: { name: call.name, arguments: JSON.parse(call.arguments) },
      first_status: first.status,
      text: second.output_text,
    };
  },

  async approval() {
    const tools = [{ type: "mcp", server_label: "threadline", require_approval: "always" }];
    const first = await client.responses.create({ model: "assistant", input: "transfer 5", tools });
    const request = first.output.find((item) => item.type === "mcp_approval_request");
    const second = await client.responses.create({
      model: "assistant",
      previous_response_id: first.id,
      input: [{ type: "mcp_approval_response", approval_request_id: request.id, approve: true }],
      tools,
    });
    const call = second.output.find((item) => item.type === "mcp_call");
    return {
      request: [request.server_label, request.name, JSON.parse(request.arguments)],
      call: [call.server_label, call.name, call.output],
      text: second.output_text,
    };
  },
};

const run = scenarios[scenario];
if (run === undefined) {
  console.error(`unknown scenario ${scenario}; scenarios: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
console.log(JSON.stringify(await run()));
