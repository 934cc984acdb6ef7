// The Vercel AI SDK with its OpenAI Responses provider against threadline, unmodified: one
// scenario per run, its observations printed as one JSON object.
// Usage: node ai_sdk.mjs BASE_URL SCENARIO
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const [baseURL, scenario] = process.argv.slice(2);
const provider = createOpenAI({ baseURL, apiKey: "unused" });
const model = provider.responses("assistant");

const lookups = [];
const lookup = tool({
  description: "Look a word up.",
  inputSchema: z.object({ word: z.string() }),
  execute: async ({ word }) => {
    lookups.push(word);
    return `${word} means a durable thread`;
  },
});

const scenarios = {
  async generate() {
    const result = await generateText({ model, prompt: "say hello from the AI SDK", maxRetries: 0 });
    return { text: result.text, finishReason: result.finishReason };
  },

  async stream() {
    const result = streamText({ model, prompt: "say streamed by the AI SDK", maxRetries: 0 });
    const chunks = [];
    for await (const chunk of result.textStream) chunks.push(chunk);
    return { chunks, text: await result.text, finishReason: await result.finishReason };
  },

  async tool_steps() {
    const result = await generateText({
      model,
      prompt: 'client lookup {"word":"threadline"}',
      tools: { lookup },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    return {
      lookups,
      steps: result.steps.map((step) => step.finishReason),
      text: result.text,
    };
  },

  async stream_tool_steps() {
    const result = streamText({
      model,
      prompt: 'client lookup {"word":"streams"}',
      tools: { lookup },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    const errors = [];
    for await (const part of result.fullStream) {
      if (part.type === "error") errors.push(String(part.error?.message ?? part.error));
    }
    // streamText reports a failed request as an error part, not by throwing.
    if (errors.length > 0) throw new Error(errors.join("; "));
    const steps = await result.steps;
    return { lookups, steps: steps.map((step) => step.finishReason), text: await result.text };
  },
};

const run = scenarios[scenario];
if (run === undefined) {
  console.error(`unknown scenario ${scenario}; scenarios: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
console.log(JSON.stringify(await run()));
