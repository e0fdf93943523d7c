import streamlit as st

st.title("client")
