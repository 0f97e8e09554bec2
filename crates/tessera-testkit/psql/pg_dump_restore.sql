--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: orders; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.orders (
    id bigint NOT NULL,
    customer_id integer NOT NULL,
    total numeric(10,2),
    status text DEFAULT 'new'::text,
    tags text[],
    meta jsonb,
    CONSTRAINT orders_total_check CHECK ((total >= (0)::numeric))
);


ALTER TABLE public.orders OWNER TO postgres;

--
-- Name: big_orders; Type: VIEW; Schema: public; Owner: postgres
--

CREATE VIEW public.big_orders AS
 SELECT orders.id,
    orders.customer_id,
    orders.total,
    orders.status,
    orders.tags,
    orders.meta
   FROM public.orders
  WHERE (orders.total > (100)::numeric);


ALTER TABLE public.big_orders OWNER TO postgres;

--
-- Name: customers; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.customers (
    id integer NOT NULL,
    email text NOT NULL,
    name text,
    created timestamp with time zone DEFAULT now()
);


ALTER TABLE public.customers OWNER TO postgres;

--
-- Name: TABLE customers; Type: COMMENT; Schema: public; Owner: postgres
--

COMMENT ON TABLE public.customers IS 'people who buy';


--
-- Name: customers_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.customers_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.customers_id_seq OWNER TO postgres;

--
-- Name: customers_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: postgres
--

ALTER SEQUENCE public.customers_id_seq OWNED BY public.customers.id;


--
-- Name: invoice_no; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.invoice_no
    START WITH 1000
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.invoice_no OWNER TO postgres;

--
-- Name: orders_id_seq; Type: SEQUENCE; Schema: public; Owner: postgres
--

CREATE SEQUENCE public.orders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


ALTER TABLE public.orders_id_seq OWNER TO postgres;

--
-- Name: orders_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: postgres
--

ALTER SEQUENCE public.orders_id_seq OWNED BY public.orders.id;


--
-- Name: customers id; Type: DEFAULT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers ALTER COLUMN id SET DEFAULT nextval('public.customers_id_seq'::regclass);


--
-- Name: orders id; Type: DEFAULT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders ALTER COLUMN id SET DEFAULT nextval('public.orders_id_seq'::regclass);


--
-- Data for Name: customers; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.customers (id, email, name, created) FROM stdin;
1	c1@x	C 1	2026-11-25 11:40:46.779675+00
2	c2@x	C 2	2026-11-25 11:40:46.779675+00
3	c3@x	C 3	2026-11-25 11:40:46.779675+00
4	c4@x	C 4	2026-11-25 11:40:46.779675+00
5	c5@x	C 5	2026-11-25 11:40:46.779675+00
6	c6@x	C 6	2026-11-25 11:40:46.779675+00
7	c7@x	C 7	2026-11-25 11:40:46.779675+00
8	c8@x	C 8	2026-11-25 11:40:46.779675+00
9	c9@x	C 9	2026-11-25 11:40:46.779675+00
10	c10@x	C 10	2026-11-25 11:40:46.779675+00
11	c11@x	C 11	2026-11-25 11:40:46.779675+00
12	c12@x	C 12	2026-11-25 11:40:46.779675+00
13	c13@x	C 13	2026-11-25 11:40:46.779675+00
14	c14@x	C 14	2026-11-25 11:40:46.779675+00
15	c15@x	C 15	2026-11-25 11:40:46.779675+00
16	c16@x	C 16	2026-11-25 11:40:46.779675+00
17	c17@x	C 17	2026-11-25 11:40:46.779675+00
18	c18@x	C 18	2026-11-25 11:40:46.779675+00
19	c19@x	C 19	2026-11-25 11:40:46.779675+00
20	c20@x	C 20	2026-11-25 11:40:46.779675+00
21	c21@x	C 21	2026-11-25 11:40:46.779675+00
22	c22@x	C 22	2026-11-25 11:40:46.779675+00
23	c23@x	C 23	2026-11-25 11:40:46.779675+00
24	c24@x	C 24	2026-11-25 11:40:46.779675+00
25	c25@x	C 25	2026-11-25 11:40:46.779675+00
26	c26@x	C 26	2026-11-25 11:40:46.779675+00
27	c27@x	C 27	2026-11-25 11:40:46.779675+00
28	c28@x	C 28	2026-11-25 11:40:46.779675+00
29	c29@x	C 29	2026-11-25 11:40:46.779675+00
30	c30@x	C 30	2026-11-25 11:40:46.779675+00
31	c31@x	C 31	2026-11-25 11:40:46.779675+00
32	c32@x	C 32	2026-11-25 11:40:46.779675+00
33	c33@x	C 33	2026-11-25 11:40:46.779675+00
34	c34@x	C 34	2026-11-25 11:40:46.779675+00
35	c35@x	C 35	2026-11-25 11:40:46.779675+00
36	c36@x	C 36	2026-11-25 11:40:46.779675+00
37	c37@x	C 37	2026-11-25 11:40:46.779675+00
38	c38@x	C 38	2026-11-25 11:40:46.779675+00
39	c39@x	C 39	2026-11-25 11:40:46.779675+00
40	c40@x	C 40	2026-11-25 11:40:46.779675+00
41	c41@x	C 41	2026-11-25 11:40:46.779675+00
42	c42@x	C 42	2026-11-25 11:40:46.779675+00
43	c43@x	C 43	2026-11-25 11:40:46.779675+00
44	c44@x	C 44	2026-11-25 11:40:46.779675+00
45	c45@x	C 45	2026-11-25 11:40:46.779675+00
46	c46@x	C 46	2026-11-25 11:40:46.779675+00
47	c47@x	C 47	2026-11-25 11:40:46.779675+00
48	c48@x	C 48	2026-11-25 11:40:46.779675+00
49	c49@x	C 49	2026-11-25 11:40:46.779675+00
50	c50@x	C 50	2026-11-25 11:40:46.779675+00
\.


--
-- Data for Name: orders; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.orders (id, customer_id, total, status, tags, meta) FROM stdin;
1	2	3.50	new	{a,b}	{"k": 1}
2	3	7.00	new	{a,b}	{"k": 1}
3	4	10.50	new	{a,b}	{"k": 1}
4	5	14.00	new	{a,b}	{"k": 1}
5	6	17.50	new	{a,b}	{"k": 1}
6	7	21.00	new	{a,b}	{"k": 1}
7	8	24.50	new	{a,b}	{"k": 1}
8	9	28.00	new	{a,b}	{"k": 1}
9	10	31.50	new	{a,b}	{"k": 1}
10	11	35.00	new	{a,b}	{"k": 1}
11	12	38.50	new	{a,b}	{"k": 1}
12	13	42.00	new	{a,b}	{"k": 1}
13	14	45.50	new	{a,b}	{"k": 1}
14	15	49.00	new	{a,b}	{"k": 1}
15	16	52.50	new	{a,b}	{"k": 1}
16	17	56.00	new	{a,b}	{"k": 1}
17	18	59.50	new	{a,b}	{"k": 1}
18	19	63.00	new	{a,b}	{"k": 1}
19	20	66.50	new	{a,b}	{"k": 1}
20	21	70.00	new	{a,b}	{"k": 1}
21	22	73.50	new	{a,b}	{"k": 1}
22	23	77.00	new	{a,b}	{"k": 1}
23	24	80.50	new	{a,b}	{"k": 1}
24	25	84.00	new	{a,b}	{"k": 1}
25	26	87.50	new	{a,b}	{"k": 1}
26	27	91.00	new	{a,b}	{"k": 1}
27	28	94.50	new	{a,b}	{"k": 1}
28	29	98.00	new	{a,b}	{"k": 1}
29	30	101.50	new	{a,b}	{"k": 1}
30	31	105.00	new	{a,b}	{"k": 1}
31	32	108.50	new	{a,b}	{"k": 1}
32	33	112.00	new	{a,b}	{"k": 1}
33	34	115.50	new	{a,b}	{"k": 1}
34	35	119.00	new	{a,b}	{"k": 1}
35	36	122.50	new	{a,b}	{"k": 1}
36	37	126.00	new	{a,b}	{"k": 1}
37	38	129.50	new	{a,b}	{"k": 1}
38	39	133.00	new	{a,b}	{"k": 1}
39	40	136.50	new	{a,b}	{"k": 1}
40	41	140.00	new	{a,b}	{"k": 1}
41	42	143.50	new	{a,b}	{"k": 1}
42	43	147.00	new	{a,b}	{"k": 1}
43	44	150.50	new	{a,b}	{"k": 1}
44	45	154.00	new	{a,b}	{"k": 1}
45	46	157.50	new	{a,b}	{"k": 1}
46	47	161.00	new	{a,b}	{"k": 1}
47	48	164.50	new	{a,b}	{"k": 1}
48	49	168.00	new	{a,b}	{"k": 1}
49	50	171.50	new	{a,b}	{"k": 1}
50	1	175.00	new	{a,b}	{"k": 1}
51	2	178.50	new	{a,b}	{"k": 1}
52	3	182.00	new	{a,b}	{"k": 1}
53	4	185.50	new	{a,b}	{"k": 1}
54	5	189.00	new	{a,b}	{"k": 1}
55	6	192.50	new	{a,b}	{"k": 1}
56	7	196.00	new	{a,b}	{"k": 1}
57	8	199.50	new	{a,b}	{"k": 1}
58	9	203.00	new	{a,b}	{"k": 1}
59	10	206.50	new	{a,b}	{"k": 1}
60	11	210.00	new	{a,b}	{"k": 1}
61	12	213.50	new	{a,b}	{"k": 1}
62	13	217.00	new	{a,b}	{"k": 1}
63	14	220.50	new	{a,b}	{"k": 1}
64	15	224.00	new	{a,b}	{"k": 1}
65	16	227.50	new	{a,b}	{"k": 1}
66	17	231.00	new	{a,b}	{"k": 1}
67	18	234.50	new	{a,b}	{"k": 1}
68	19	238.00	new	{a,b}	{"k": 1}
69	20	241.50	new	{a,b}	{"k": 1}
70	21	245.00	new	{a,b}	{"k": 1}
71	22	248.50	new	{a,b}	{"k": 1}
72	23	252.00	new	{a,b}	{"k": 1}
73	24	255.50	new	{a,b}	{"k": 1}
74	25	259.00	new	{a,b}	{"k": 1}
75	26	262.50	new	{a,b}	{"k": 1}
76	27	266.00	new	{a,b}	{"k": 1}
77	28	269.50	new	{a,b}	{"k": 1}
78	29	273.00	new	{a,b}	{"k": 1}
79	30	276.50	new	{a,b}	{"k": 1}
80	31	280.00	new	{a,b}	{"k": 1}
81	32	283.50	new	{a,b}	{"k": 1}
82	33	287.00	new	{a,b}	{"k": 1}
83	34	290.50	new	{a,b}	{"k": 1}
84	35	294.00	new	{a,b}	{"k": 1}
85	36	297.50	new	{a,b}	{"k": 1}
86	37	301.00	new	{a,b}	{"k": 1}
87	38	304.50	new	{a,b}	{"k": 1}
88	39	308.00	new	{a,b}	{"k": 1}
89	40	311.50	new	{a,b}	{"k": 1}
90	41	315.00	new	{a,b}	{"k": 1}
91	42	318.50	new	{a,b}	{"k": 1}
92	43	322.00	new	{a,b}	{"k": 1}
93	44	325.50	new	{a,b}	{"k": 1}
94	45	329.00	new	{a,b}	{"k": 1}
95	46	332.50	new	{a,b}	{"k": 1}
96	47	336.00	new	{a,b}	{"k": 1}
97	48	339.50	new	{a,b}	{"k": 1}
98	49	343.00	new	{a,b}	{"k": 1}
99	50	346.50	new	{a,b}	{"k": 1}
100	1	350.00	new	{a,b}	{"k": 1}
101	2	353.50	new	{a,b}	{"k": 1}
102	3	357.00	new	{a,b}	{"k": 1}
103	4	360.50	new	{a,b}	{"k": 1}
104	5	364.00	new	{a,b}	{"k": 1}
105	6	367.50	new	{a,b}	{"k": 1}
106	7	371.00	new	{a,b}	{"k": 1}
107	8	374.50	new	{a,b}	{"k": 1}
108	9	378.00	new	{a,b}	{"k": 1}
109	10	381.50	new	{a,b}	{"k": 1}
110	11	385.00	new	{a,b}	{"k": 1}
111	12	388.50	new	{a,b}	{"k": 1}
112	13	392.00	new	{a,b}	{"k": 1}
113	14	395.50	new	{a,b}	{"k": 1}
114	15	399.00	new	{a,b}	{"k": 1}
115	16	402.50	new	{a,b}	{"k": 1}
116	17	406.00	new	{a,b}	{"k": 1}
117	18	409.50	new	{a,b}	{"k": 1}
118	19	413.00	new	{a,b}	{"k": 1}
119	20	416.50	new	{a,b}	{"k": 1}
120	21	420.00	new	{a,b}	{"k": 1}
121	22	423.50	new	{a,b}	{"k": 1}
122	23	427.00	new	{a,b}	{"k": 1}
123	24	430.50	new	{a,b}	{"k": 1}
124	25	434.00	new	{a,b}	{"k": 1}
125	26	437.50	new	{a,b}	{"k": 1}
126	27	441.00	new	{a,b}	{"k": 1}
127	28	444.50	new	{a,b}	{"k": 1}
128	29	448.00	new	{a,b}	{"k": 1}
129	30	451.50	new	{a,b}	{"k": 1}
130	31	455.00	new	{a,b}	{"k": 1}
131	32	458.50	new	{a,b}	{"k": 1}
132	33	462.00	new	{a,b}	{"k": 1}
133	34	465.50	new	{a,b}	{"k": 1}
134	35	469.00	new	{a,b}	{"k": 1}
135	36	472.50	new	{a,b}	{"k": 1}
136	37	476.00	new	{a,b}	{"k": 1}
137	38	479.50	new	{a,b}	{"k": 1}
138	39	483.00	new	{a,b}	{"k": 1}
139	40	486.50	new	{a,b}	{"k": 1}
140	41	490.00	new	{a,b}	{"k": 1}
141	42	493.50	new	{a,b}	{"k": 1}
142	43	497.00	new	{a,b}	{"k": 1}
143	44	500.50	new	{a,b}	{"k": 1}
144	45	504.00	new	{a,b}	{"k": 1}
145	46	507.50	new	{a,b}	{"k": 1}
146	47	511.00	new	{a,b}	{"k": 1}
147	48	514.50	new	{a,b}	{"k": 1}
148	49	518.00	new	{a,b}	{"k": 1}
149	50	521.50	new	{a,b}	{"k": 1}
150	1	525.00	new	{a,b}	{"k": 1}
151	2	528.50	new	{a,b}	{"k": 1}
152	3	532.00	new	{a,b}	{"k": 1}
153	4	535.50	new	{a,b}	{"k": 1}
154	5	539.00	new	{a,b}	{"k": 1}
155	6	542.50	new	{a,b}	{"k": 1}
156	7	546.00	new	{a,b}	{"k": 1}
157	8	549.50	new	{a,b}	{"k": 1}
158	9	553.00	new	{a,b}	{"k": 1}
159	10	556.50	new	{a,b}	{"k": 1}
160	11	560.00	new	{a,b}	{"k": 1}
161	12	563.50	new	{a,b}	{"k": 1}
162	13	567.00	new	{a,b}	{"k": 1}
163	14	570.50	new	{a,b}	{"k": 1}
164	15	574.00	new	{a,b}	{"k": 1}
165	16	577.50	new	{a,b}	{"k": 1}
166	17	581.00	new	{a,b}	{"k": 1}
167	18	584.50	new	{a,b}	{"k": 1}
168	19	588.00	new	{a,b}	{"k": 1}
169	20	591.50	new	{a,b}	{"k": 1}
170	21	595.00	new	{a,b}	{"k": 1}
171	22	598.50	new	{a,b}	{"k": 1}
172	23	602.00	new	{a,b}	{"k": 1}
173	24	605.50	new	{a,b}	{"k": 1}
174	25	609.00	new	{a,b}	{"k": 1}
175	26	612.50	new	{a,b}	{"k": 1}
176	27	616.00	new	{a,b}	{"k": 1}
177	28	619.50	new	{a,b}	{"k": 1}
178	29	623.00	new	{a,b}	{"k": 1}
179	30	626.50	new	{a,b}	{"k": 1}
180	31	630.00	new	{a,b}	{"k": 1}
181	32	633.50	new	{a,b}	{"k": 1}
182	33	637.00	new	{a,b}	{"k": 1}
183	34	640.50	new	{a,b}	{"k": 1}
184	35	644.00	new	{a,b}	{"k": 1}
185	36	647.50	new	{a,b}	{"k": 1}
186	37	651.00	new	{a,b}	{"k": 1}
187	38	654.50	new	{a,b}	{"k": 1}
188	39	658.00	new	{a,b}	{"k": 1}
189	40	661.50	new	{a,b}	{"k": 1}
190	41	665.00	new	{a,b}	{"k": 1}
191	42	668.50	new	{a,b}	{"k": 1}
192	43	672.00	new	{a,b}	{"k": 1}
193	44	675.50	new	{a,b}	{"k": 1}
194	45	679.00	new	{a,b}	{"k": 1}
195	46	682.50	new	{a,b}	{"k": 1}
196	47	686.00	new	{a,b}	{"k": 1}
197	48	689.50	new	{a,b}	{"k": 1}
198	49	693.00	new	{a,b}	{"k": 1}
199	50	696.50	new	{a,b}	{"k": 1}
200	1	700.00	new	{a,b}	{"k": 1}
\.


--
-- Name: customers_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.customers_id_seq', 50, true);


--
-- Name: invoice_no; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.invoice_no', 1000, true);


--
-- Name: orders_id_seq; Type: SEQUENCE SET; Schema: public; Owner: postgres
--

SELECT pg_catalog.setval('public.orders_id_seq', 200, true);


--
-- Name: customers customers_email_key; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_email_key UNIQUE (email);


--
-- Name: customers customers_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.customers
    ADD CONSTRAINT customers_pkey PRIMARY KEY (id);


--
-- Name: orders orders_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);


--
-- Name: orders_customer; Type: INDEX; Schema: public; Owner: postgres
--

CREATE INDEX orders_customer ON public.orders USING btree (customer_id);


--
-- Name: orders orders_customer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES public.customers(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--


